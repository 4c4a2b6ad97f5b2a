package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

// t0 is when the orders of these tests were created.
var t0 = time.Date(2026, 11, 24, 10, 15, 30, 123456000, time.UTC)

// fill is one execution at price, written as text, sec seconds after t0.
func fill(t *testing.T, execID string, qty int64, price string, sec float64) domain.Fill {
	t.Helper()
	p, err := domain.ParsePrice(price)
	if err != nil {
		t.Fatal(err)
	}
	return domain.Fill{ExecID: execID, Quantity: qty, Price: p, ExecutedAt: t0.Add(time.Duration(sec * float64(time.Second)))}
}

// stored is a limit buy of 10 at 123.45 of testAccount as a store holds it after the
// exchange's reports: with status and fills, acknowledged unless pending.
func stored(t *testing.T, status domain.Status, fills ...domain.Fill) domain.Order {
	t.Helper()
	limit := domain.Price(123_45)
	o, err := domain.New(domain.NewID(t0), t0, domain.Spec{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: &limit, Quantity: 10})
	if err != nil {
		t.Fatal(err)
	}
	o.Account, o.Status, o.Fills, o.UpdatedAt = testAccount, status, fills, t0.Add(2*time.Second)
	if status != domain.Pending {
		o.PlacementAttempts, o.PlacedAt = 1, t0.Add(500*time.Millisecond)
	}
	return o
}

// orderFields are the fields of every order answer (CONTRACT §2.3).
var orderFields = []string{
	"id", "created_at", "updated_at", "type", "side", "instrument", "limit_price", "quantity", "status",
	"filled_quantity", "average_fill_price", "placement_attempts", "placed_at", "last_error",
}

// rawOrder decodes one order answer into its raw field texts and checks it
// has exactly the contract's fields.
func rawOrder(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("order %s: %v", b, err)
	}
	return rawFields(t, m)
}

func rawFields(t *testing.T, m map[string]json.RawMessage) map[string]string {
	t.Helper()
	out := make(map[string]string, len(m))
	var names []string
	for k, v := range m {
		out[k] = string(v)
		names = append(names, k)
	}
	slices.Sort(names)
	want := slices.Clone(orderFields)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("order fields = %v; want %v", names, want)
	}
	return out
}

func TestOrderAnswersCarryFillsAndUpdatedAt(t *testing.T) {
	partly := stored(t, domain.PartiallyFilled,
		fill(t, "s1-1", 1, "99.99", 0.6), fill(t, "s1-2", 2, "100.00", 0.7), fill(t, "s1-3", 3, "100.01", 0.8))
	even := stored(t, domain.Filled,
		fill(t, "s1-4", 5, "99.99", 0.6), fill(t, "s1-5", 5, "100.01", 0.7))
	working := stored(t, domain.Placed)
	f := newFixture(t, memOrders(partly, even, working), pinger{})

	// The domain computes the average; the API writes its exact text.
	if avg, _ := partly.AverageFillPrice(); avg.String() != "100.003333" {
		t.Fatalf("domain average of the fixture = %s; want 100.003333", avg)
	}
	tests := []struct {
		name       string
		o          domain.Order
		wantFilled string
		wantAvg    string
		wantStatus string
	}{
		{"partially filled, average rounded to 6 places", partly, "6", "100.003333", `"partially_filled"`},
		{"filled, average keeps two places", even, "10", "100.00", `"filled"`},
		{"nothing filled", working, "0", "null", `"placed"`},
	}
	list := f.api.Get("/orders")
	if list.Code != http.StatusOK {
		t.Fatalf("GET /orders = %d %s", list.Code, list.Body)
	}
	var page struct {
		Orders []map[string]json.RawMessage `json:"orders"`
	}
	if err := json.Unmarshal(list.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.api.Get("/orders/" + tt.o.ID.String())
			if resp.Code != http.StatusOK {
				t.Fatalf("GET = %d %s", resp.Code, resp.Body)
			}
			answers := map[string]map[string]string{"get-order": rawOrder(t, resp.Body.Bytes())}
			for _, o := range page.Orders {
				if string(o["id"]) == `"`+tt.o.ID.String()+`"` {
					answers["list-orders"] = rawFields(t, o)
				}
			}
			if len(answers) != 2 {
				t.Fatalf("list-orders does not show the order: %s", list.Body)
			}
			for op, got := range answers {
				want := map[string]string{
					"filled_quantity":    tt.wantFilled,
					"average_fill_price": tt.wantAvg,
					"status":             tt.wantStatus,
					"created_at":         `"2026-11-24T10:15:30.123456Z"`,
					"updated_at":         `"2026-11-24T10:15:32.123456Z"`,
					"placed_at":          `"2026-11-24T10:15:30.623456Z"`,
					"placement_attempts": "1",
					"last_error":         "null",
					"limit_price":        "123.45",
				}
				for field, w := range want {
					if got[field] != w {
						t.Errorf("%s: %s = %s; want %s", op, field, got[field], w)
					}
				}
			}
		})
	}
}

func TestPlaceOrderAnswersNothingFilledYet(t *testing.T) {
	f := newFixture(t, memOrders(), pinger{})
	resp := f.api.Post("/orders", jsonCT, strings.NewReader(`{"type":"market","side":"buy","instrument":"US0378331005","quantity":3}`))
	if resp.Code != http.StatusCreated {
		t.Fatalf("POST = %d %s", resp.Code, resp.Body)
	}
	got := rawOrder(t, resp.Body.Bytes())
	for field, want := range map[string]string{
		"status": `"pending"`, "filled_quantity": "0", "average_fill_price": "null",
		"placement_attempts": "0", "placed_at": "null", "last_error": "null", "limit_price": "null",
	} {
		if got[field] != want {
			t.Errorf("%s = %s; want %s", field, got[field], want)
		}
	}
	if got["updated_at"] != got["created_at"] {
		t.Errorf("updated_at = %s; want created_at %s", got["updated_at"], got["created_at"])
	}
}

func TestCancelOrder(t *testing.T) {
	sentPending := stored(t, domain.Pending)
	sentPending.PlacementAttempts = 1 // a transient failure: the exchange may have the order
	partly := stored(t, domain.PartiallyFilled, fill(t, "s1-1", 4, "100.00", 0.6))
	tests := []struct {
		name       string
		o          domain.Order
		wantStatus string
		wantFilled string
	}{
		{"placed goes to pending_cancel", stored(t, domain.Placed), "pending_cancel", "0"},
		{"partially filled goes to pending_cancel, fills kept", partly, "pending_cancel", "4"},
		{"pending, placement sent, goes to pending_cancel", sentPending, "pending_cancel", "0"},
		{"pending, never sent, is canceled at once", stored(t, domain.Pending), "canceled", "0"},
		{"pending_cancel stays", stored(t, domain.PendingCancel), "pending_cancel", "0"},
		{"canceled stays", stored(t, domain.Canceled), "canceled", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, memOrders(tt.o), pinger{})
			// Asking again answers 202 again and changes nothing.
			for attempt := 1; attempt <= 2; attempt++ {
				resp := f.api.Delete("/orders/" + tt.o.ID.String())
				if resp.Code != http.StatusAccepted {
					t.Fatalf("DELETE #%d = %d %s; want 202", attempt, resp.Code, resp.Body)
				}
				if ct := resp.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("DELETE #%d Content-Type = %q; want application/json", attempt, ct)
				}
				got := rawOrder(t, resp.Body.Bytes())
				if got["status"] != `"`+tt.wantStatus+`"` || got["filled_quantity"] != tt.wantFilled {
					t.Errorf("DELETE #%d: status %s, filled_quantity %s; want %q, %s", attempt, got["status"], got["filled_quantity"], tt.wantStatus, tt.wantFilled)
				}
				if got["id"] != `"`+tt.o.ID.String()+`"` {
					t.Errorf("DELETE #%d: id = %s; want %s", attempt, got["id"], tt.o.ID)
				}
			}
			if n := len(f.store.CancelCalls()); n != 2 {
				t.Errorf("store Cancel calls = %d; want 2", n)
			}
			o, err := f.store.Order(t.Context(), testAccount, tt.o.ID)
			if err != nil || string(o.Status) != tt.wantStatus {
				t.Errorf("stored status = %q, %v; want %q", o.Status, err, tt.wantStatus)
			}
		})
	}
}

func TestCancelOrderRefused(t *testing.T) {
	for _, status := range []domain.Status{domain.Filled, domain.Expired, domain.Rejected} {
		t.Run(string(status), func(t *testing.T) {
			o := stored(t, status)
			f := newFixture(t, memOrders(o), pinger{})
			resp := f.api.Delete("/orders/" + o.ID.String())
			if resp.Code != http.StatusConflict {
				t.Fatalf("DELETE = %d %s; want 409", resp.Code, resp.Body)
			}
			p := problemOf(t, resp)
			if p.Status != http.StatusConflict || p.Title != "Conflict" {
				t.Errorf("problem = %+v; want status 409, title Conflict", p)
			}
			if want := "the order is " + string(status) + ": it can no longer be canceled"; p.Detail != want {
				t.Errorf("detail = %q; want %q", p.Detail, want)
			}
			if got, _ := f.store.Order(t.Context(), testAccount, o.ID); got.Status != status {
				t.Errorf("stored status = %q; want %q unchanged", got.Status, status)
			}
		})
	}
	t.Run("status changed after the refusal", func(t *testing.T) {
		// The refusal names the status only if the lifecycle still refuses
		// a cancel in the status read back.
		o := stored(t, domain.Placed)
		store := memOrders(o)
		store.CancelFunc = func(ctx context.Context, account domain.Account, id domain.ID, apply ports.CancelFunc) (domain.Order, error) {
			return domain.Order{}, fmt.Errorf("cancel: %w", domain.ErrTransition)
		}
		f := newFixture(t, store, pinger{})
		resp := f.api.Delete("/orders/" + o.ID.String())
		if resp.Code != http.StatusConflict {
			t.Fatalf("DELETE = %d %s; want 409", resp.Code, resp.Body)
		}
		if p := problemOf(t, resp); p.Detail != "the order's status does not allow a cancel" {
			t.Errorf("detail = %q; want the generic one", p.Detail)
		}
	})
}

func TestCancelOrderUnknownOrMalformedID(t *testing.T) {
	f := newFixture(t, memOrders(stored(t, domain.Placed)), pinger{})
	tests := []struct {
		path    string
		want    int
		wantLoc string
	}{
		{"/orders/0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11", http.StatusNotFound, ""},
		{"/orders/not-a-uuid", http.StatusUnprocessableEntity, "path.id"},
		{"/orders/0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c1z", http.StatusUnprocessableEntity, "path.id"},
	}
	for _, tt := range tests {
		resp := f.api.Delete(tt.path)
		if resp.Code != tt.want {
			t.Errorf("DELETE %s = %d %s; want %d", tt.path, resp.Code, resp.Body, tt.want)
			continue
		}
		p := problemOf(t, resp)
		if p.Status != tt.want {
			t.Errorf("DELETE %s: problem status = %d; want %d", tt.path, p.Status, tt.want)
		}
		if tt.wantLoc != "" && (len(p.Errors) != 1 || p.Errors[0].Location != tt.wantLoc) {
			t.Errorf("DELETE %s: problem errors %+v; want one at %s", tt.path, p.Errors, tt.wantLoc)
		}
	}
	if n := len(f.store.CancelCalls()); n != 1 {
		t.Errorf("store Cancel calls = %d; want 1 (the unknown id; a malformed one never reaches the store)", n)
	}
}

// TestPlaceOrderNeverAnswers409 holds CONTRACT §2.2: whatever collision the
// store reports, POST /orders answers the contract's 500, never 409.
func TestPlaceOrderNeverAnswers409(t *testing.T) {
	conflict := fmt.Errorf("store: order taken: %w", domain.ErrConflict)
	store := memOrders()
	store.CreateFunc = func(ctx context.Context, o domain.Order) error { return conflict }
	keys := &mocks.KeysMock{CreateOnceFunc: func(ctx context.Context, key domain.IdempotencyKey, o domain.Order) (domain.Order, bool, error) {
		return domain.Order{}, false, conflict
	}}
	f := newKeyedFixture(t, store, keys, pinger{})
	for _, key := range []string{"", "key-1"} {
		req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"type":"market","side":"buy","instrument":"US0378331005","quantity":1}`))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp := httptest.NewRecorder()
		f.h.ServeHTTP(resp, f.authorize(req))
		if resp.Code != http.StatusInternalServerError {
			t.Errorf("POST with key %q and a conflict in the store = %d %s; want 500", key, resp.Code, resp.Body)
		}
	}
}

func TestListFills(t *testing.T) {
	// Stored in the order applied; the third executed first.
	partly := stored(t, domain.PartiallyFilled,
		fill(t, "s1-2", 2, "100.00", 0.7), fill(t, "s1-3", 3, "100.01", 0.8), fill(t, "s1-1", 1, "99.99", 0.6))
	working := stored(t, domain.Placed)
	f := newFixture(t, memOrders(partly, working), pinger{})
	tests := []struct {
		name string
		o    domain.Order
		want string
	}{
		{"oldest first, prices exact", partly, `{"fills":[` +
			`{"exec_id":"s1-1","quantity":1,"price":99.99,"executed_at":"2026-11-24T10:15:30.723456Z"},` +
			`{"exec_id":"s1-2","quantity":2,"price":100.00,"executed_at":"2026-11-24T10:15:30.823456Z"},` +
			`{"exec_id":"s1-3","quantity":3,"price":100.01,"executed_at":"2026-11-24T10:15:30.923456Z"}]}`},
		{"nothing filled", working, `{"fills":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.api.Get("/orders/" + tt.o.ID.String() + "/fills")
			if resp.Code != http.StatusOK {
				t.Fatalf("GET = %d %s; want 200", resp.Code, resp.Body)
			}
			if got := strings.TrimSpace(resp.Body.String()); got != tt.want {
				t.Errorf("body = %s; want %s", got, tt.want)
			}
			if ct := resp.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q; want application/json", ct)
			}
		})
	}
	for _, tt := range []struct {
		path    string
		want    int
		wantLoc string
	}{
		{"/orders/0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11/fills", http.StatusNotFound, ""},
		{"/orders/not-a-uuid/fills", http.StatusUnprocessableEntity, "path.id"},
	} {
		resp := f.api.Get(tt.path)
		if resp.Code != tt.want {
			t.Errorf("GET %s = %d %s; want %d", tt.path, resp.Code, resp.Body, tt.want)
			continue
		}
		p := problemOf(t, resp)
		if tt.wantLoc != "" && (len(p.Errors) != 1 || p.Errors[0].Location != tt.wantLoc) {
			t.Errorf("GET %s: problem errors %+v; want one at %s", tt.path, p.Errors, tt.wantLoc)
		}
	}
}

// TestListOrdersFiltersByEveryStatus holds CONTRACT §2.4: ?status= takes
// any status of the lifecycle.
func TestListOrdersFiltersByEveryStatus(t *testing.T) {
	var seed []domain.Order
	for _, s := range domain.Statuses() {
		seed = append(seed, stored(t, s))
	}
	f := newFixture(t, memOrders(seed...), pinger{})
	for _, o := range seed {
		resp := f.api.Get("/orders?status=" + string(o.Status))
		if resp.Code != http.StatusOK {
			t.Errorf("GET /orders?status=%s = %d %s; want 200", o.Status, resp.Code, resp.Body)
			continue
		}
		var page struct {
			Orders []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"orders"`
		}
		if err := json.Unmarshal(resp.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Orders) != 1 || page.Orders[0].ID != o.ID.String() || page.Orders[0].Status != string(o.Status) {
			t.Errorf("GET /orders?status=%s = %+v; want only order %s", o.Status, page.Orders, o.ID)
		}
	}
}

// problem is an RFC 9457 problem document as the API writes it.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

// problemOf decodes resp as a problem document, checking its content type.
func problemOf(t *testing.T, resp *httptest.ResponseRecorder) problem {
	t.Helper()
	if ct := resp.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q; want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(resp.Body.Bytes(), &p); err != nil {
		t.Fatalf("not a problem document: %v: %s", err, resp.Body)
	}
	return p
}
