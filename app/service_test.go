package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

func TestPlaceOrder(t *testing.T) {
	price := domain.PriceFromCents(12345)
	valid := domain.Spec{Type: domain.Limit, Side: domain.Sell, Instrument: "DE000BASF111", LimitPrice: &price, Quantity: 10}
	dbDown := errors.New("dial tcp 127.0.0.1:5432: connection refused")

	tests := []struct {
		name      string
		spec      domain.Spec
		createErr error
		wantErr   error
		wantWake  int
	}{
		{name: "stores and wakes the dispatcher", spec: valid, wantWake: 1},
		{name: "invalid spec stores nothing", spec: domain.Spec{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", Quantity: 1}, wantErr: domain.ErrInvalid},
		{name: "store failure is returned wrapped", spec: valid, createErr: dbDown, wantErr: dbDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &mocks.OrdersMock{CreateFunc: func(ctx context.Context, o domain.Order) error { return tt.createErr }}
			wakes := 0
			svc := app.NewService(store, nil, newClock().mock(), func() { wakes++ })

			got, err := svc.PlaceOrder(context.Background(), "acme", tt.spec)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PlaceOrder error = %v; want %v", err, tt.wantErr)
			}
			if wakes != tt.wantWake {
				t.Errorf("wakes = %d; want %d", wakes, tt.wantWake)
			}
			if errors.Is(tt.wantErr, domain.ErrInvalid) {
				if n := len(store.CreateCalls()); n != 0 {
					t.Errorf("Create calls = %d; want 0 for an invalid spec", n)
				}
				return
			}
			if tt.wantErr != nil {
				return
			}
			stored := store.CreateCalls()[0].O
			if diff := cmp.Diff(stored, got); diff != "" {
				t.Errorf("returned order differs from stored (-stored +returned):\n%s", diff)
			}
			if got.Status != domain.Pending || !got.CreatedAt.Equal(t0) || got.ID.IsZero() {
				t.Errorf("order = %+v; want pending, created at %s, with an ID", got, t0)
			}
		})
	}
}

func TestListOrdersPaging(t *testing.T) {
	var all []domain.Order
	for range 5 {
		all = append(all, testOrder(t))
	}
	store := &mocks.OrdersMock{ListFunc: func(ctx context.Context, q ports.ListQuery) ([]domain.Order, error) {
		return all[:min(q.Limit, len(all))], nil
	}}
	svc := app.NewService(store, nil, newClock().mock(), nil)

	tests := []struct {
		name      string
		q         ports.ListQuery
		wantLen   int
		wantNext  domain.ID
		wantLimit int // what the store is asked for
		wantErr   string
	}{
		{name: "default page size", q: ports.ListQuery{}, wantLen: 5, wantLimit: app.DefaultPageSize + 1},
		{name: "full page has a next cursor", q: ports.ListQuery{Limit: 2}, wantLen: 2, wantNext: all[1].ID, wantLimit: 3},
		{name: "exact fit has none", q: ports.ListQuery{Limit: 5}, wantLen: 5, wantLimit: 6},
		{name: "limit too big", q: ports.ListQuery{Limit: 501}, wantErr: "limit"},
		{name: "negative limit", q: ports.ListQuery{Limit: -1}, wantErr: "limit"},
		{name: "unknown status", q: ports.ListQuery{Status: "cancelled"}, wantErr: "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(store.ListCalls())
			p, err := svc.ListOrders(context.Background(), "acme", tt.q)
			if tt.wantErr != "" {
				var ve *domain.ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.wantErr {
					t.Fatalf("error = %v; want a validation error on %q", err, tt.wantErr)
				}
				if len(store.ListCalls()) != before {
					t.Errorf("store was queried for an invalid query")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Orders) != tt.wantLen || p.Next != tt.wantNext {
				t.Errorf("page has %d orders, next %s; want %d, next %s", len(p.Orders), p.Next, tt.wantLen, tt.wantNext)
			}
			if got := store.ListCalls()[before].Q.Limit; got != tt.wantLimit {
				t.Errorf("store asked for %d; want %d", got, tt.wantLimit)
			}
		})
	}
}

func TestOrderWrapsNotFound(t *testing.T) {
	store := &mocks.OrdersMock{OrderFunc: func(ctx context.Context, account domain.Account, id domain.ID) (domain.Order, error) {
		return domain.Order{}, domain.ErrNotFound
	}}
	svc := app.NewService(store, nil, newClock().mock(), nil)
	if _, err := svc.Order(context.Background(), "acme", domain.NewID(t0)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("error = %v; want ErrNotFound", err)
	}
}

func TestPlaceOrderOnce(t *testing.T) {
	valid := domain.Spec{Type: domain.Market, Side: domain.Buy, Instrument: "US0378331005", Quantity: 1}
	first := testOrder(t)
	tests := []struct {
		name         string
		spec         domain.Spec
		replayed     bool
		keysErr      error
		wantErr      error
		wantWake     int
		wantKeyCalls int
	}{
		{name: "first use places and wakes", spec: valid, wantWake: 1, wantKeyCalls: 1},
		{name: "replay does not wake", spec: valid, replayed: true, wantKeyCalls: 1},
		{name: "reuse with another request", spec: valid, keysErr: domain.ErrKeyReused, wantErr: domain.ErrKeyReused, wantKeyCalls: 1},
		{name: "invalid spec never reaches the store", spec: domain.Spec{}, wantErr: domain.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := &mocks.KeysMock{CreateOnceFunc: func(ctx context.Context, key domain.IdempotencyKey, o domain.Order) (domain.Order, bool, error) {
				if tt.replayed {
					return first, true, nil
				}
				return o, false, tt.keysErr
			}}
			wakes := 0
			svc := app.NewService(&mocks.OrdersMock{}, keys, newClock().mock(), func() { wakes++ })
			got, replayed, err := svc.PlaceOrderOnce(context.Background(), "acme", "k", tt.spec)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v; want %v", err, tt.wantErr)
			}
			if wakes != tt.wantWake || len(keys.CreateOnceCalls()) != tt.wantKeyCalls {
				t.Errorf("wakes %d, store calls %d; want %d, %d", wakes, len(keys.CreateOnceCalls()), tt.wantWake, tt.wantKeyCalls)
			}
			if tt.replayed && (!replayed || got.ID != first.ID) {
				t.Errorf("replay returned %s (replayed %v); want the first order %s", got.ID, replayed, first.ID)
			}
			if tt.wantKeyCalls == 1 && keys.CreateOnceCalls()[0].Key != "k" {
				t.Errorf("key passed = %q", keys.CreateOnceCalls()[0].Key)
			}
		})
	}
}

func TestPurgeKeysForgetsKeysOlderThanRetention(t *testing.T) {
	clk := newClock()
	ctx, cancel := context.WithCancel(context.Background())
	keys := &mocks.KeysMock{PurgeKeysFunc: func(ctx context.Context, before time.Time) (int, error) {
		cancel() // one round is enough
		return 3, nil
	}}
	app.PurgeKeys(ctx, keys, clk.mock(), 24*time.Hour, time.Hour, quietLogger())
	calls := keys.PurgeKeysCalls()
	if len(calls) != 1 || !calls[0].Before.Equal(t0.Add(-24*time.Hour)) {
		t.Errorf("PurgeKeys calls = %+v; want one with before = now - 24h", calls)
	}
}

func TestCancelOrderAppliesTheDomainsRule(t *testing.T) {
	clk := newClock()
	pending := testOrder(t)
	placed, _, _ := domain.Acknowledge(testOrder(t), t0)
	filled := placed
	filled.Fills = []domain.Fill{{ExecID: "e1", Quantity: placed.Quantity, Price: 10000, ExecutedAt: t0}}
	filled.Status = domain.Filled
	tests := []struct {
		name    string
		stored  domain.Order
		sent    bool
		want    domain.Status
		wantErr error
		wake    int
	}{
		{"never sent: canceled at once", pending, false, domain.Canceled, nil, 0},
		{"in flight: pending_cancel", pending, true, domain.PendingCancel, nil, 1},
		{"working: pending_cancel", placed, true, domain.PendingCancel, nil, 1},
		{"filled: refused", filled, true, domain.Filled, domain.ErrTransition, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orders := &mocks.OrdersMock{CancelFunc: func(ctx context.Context, account domain.Account, id domain.ID, apply ports.CancelFunc) (domain.Order, error) {
				o, _, err := apply(tt.stored, tt.sent)
				return o, err
			}}
			woke := 0
			svc := app.NewService(orders, nil, clk.mock(), func() { woke++ })
			got, err := svc.CancelOrder(context.Background(), "acme", tt.stored.ID)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("CancelOrder error = %v; want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Status != tt.want || woke != tt.wake {
				t.Errorf("CancelOrder = %s, %v, woke the dispatcher %d times; want %s, nil, %d", got.Status, err, woke, tt.want, tt.wake)
			}
		})
	}
}

func TestServiceScopesEveryCallByAccount(t *testing.T) {
	clk := newClock()
	var stored domain.Order
	var listed ports.ListQuery
	var read, canceled domain.Account
	orders := &mocks.OrdersMock{
		CreateFunc: func(_ context.Context, o domain.Order) error { stored = o; return nil },
		ListFunc: func(_ context.Context, q ports.ListQuery) ([]domain.Order, error) {
			listed = q
			return nil, nil
		},
		OrderFunc: func(_ context.Context, a domain.Account, _ domain.ID) (domain.Order, error) {
			read = a
			return domain.Order{}, domain.ErrNotFound
		},
		CancelFunc: func(_ context.Context, a domain.Account, _ domain.ID, _ ports.CancelFunc) (domain.Order, error) {
			canceled = a
			return domain.Order{}, domain.ErrNotFound
		},
	}
	svc := app.NewService(orders, nil, clk.mock(), nil)
	ctx := context.Background()
	spec := domain.Spec{Type: domain.Market, Side: domain.Buy, Instrument: "US0378331005", Quantity: 1}
	if _, err := svc.PlaceOrder(ctx, "acme", spec); err != nil || stored.Account != "acme" {
		t.Errorf("PlaceOrder stored account %q (%v); want acme", stored.Account, err)
	}
	if _, err := svc.PlaceOrder(ctx, "", spec); err == nil {
		t.Error("PlaceOrder without an account succeeded")
	}
	_, _ = svc.ListOrders(ctx, "acme", ports.ListQuery{Account: "other"})
	_, _ = svc.Order(ctx, "acme", domain.NewID(t0))
	_, _ = svc.CancelOrder(ctx, "acme", domain.NewID(t0))
	if listed.Account != "acme" || read != "acme" || canceled != "acme" {
		t.Errorf("list %q, read %q, cancel %q; want acme each: the caller's account wins over the query", listed.Account, read, canceled)
	}
}
