package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

func newMetricsMock() *mocks.MetricsMock {
	return &mocks.MetricsMock{
		OrderCreatedFunc:     func() {},
		PlacementAttemptFunc: func(outcome string, took time.Duration) {},
		OrderPlacedFunc:      func(sinceCommit time.Duration) {},
		CancelAttemptFunc:    func(outcome string, took time.Duration) {},
	}
}

func TestDispatcherReportsEachAttemptAndPlacementLatency(t *testing.T) {
	tests := []struct {
		placeErr    error
		wantOutcome string
		wantPlaced  bool
	}{
		{nil, ports.OutcomePlaced, true},
		{errors.New("connection not available"), ports.OutcomeFailed, false},
		{fmt.Errorf("no such instrument: %w", domain.ErrRejected), ports.OutcomeRejected, false},
	}
	for _, tt := range tests {
		t.Run(tt.wantOutcome, func(t *testing.T) {
			clk := newClock()
			job := ports.Job{Order: testOrder(t), Attempt: 1}
			clk.Advance(1500 * time.Millisecond) // the call happens 1.5 s after the commit
			m := newMetricsMock()
			ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return tt.placeErr }}
			d := newDispatcher(t, oneJobOutbox(job), ex, clk.mock(), app.DispatcherConfig{Metrics: m})
			if n, err := d.DispatchOnce(context.Background()); n != 1 || err != nil {
				t.Fatalf("DispatchOnce = %d, %v", n, err)
			}
			if calls := m.PlacementAttemptCalls(); len(calls) != 1 || calls[0].Outcome != tt.wantOutcome || calls[0].Took < 0 {
				t.Errorf("PlacementAttempt calls = %+v; want one with outcome %s", calls, tt.wantOutcome)
			}
			placed := m.OrderPlacedCalls()
			switch {
			case tt.wantPlaced && (len(placed) != 1 || placed[0].SinceCommit != 1500*time.Millisecond):
				t.Errorf("OrderPlaced calls = %+v; want one of 1.5s", placed)
			case !tt.wantPlaced && len(placed) != 0:
				t.Errorf("OrderPlaced called for an order not placed: %+v", placed)
			}
		})
	}
}

func TestServiceCountsCommittedOrdersOnly(t *testing.T) {
	m := newMetricsMock()
	var stored []domain.Order
	orders := &mocks.OrdersMock{CreateFunc: func(ctx context.Context, o domain.Order) error {
		if o.Quantity == 13 {
			return errors.New("disk full")
		}
		stored = append(stored, o)
		return nil
	}}
	keys := &mocks.KeysMock{CreateOnceFunc: func(ctx context.Context, key domain.IdempotencyKey, o domain.Order) (domain.Order, bool, error) {
		if key == "seen" {
			return stored[0], true, nil
		}
		return o, false, nil
	}}
	svc := app.NewService(orders, keys, newClock().mock(), nil, app.WithMetrics(m))
	spec := domain.Spec{Type: domain.Market, Side: domain.Buy, Instrument: "US0378331005", Quantity: 1}
	ctx := context.Background()
	if _, err := svc.PlaceOrder(ctx, "acme", spec); err != nil {
		t.Fatal(err)
	}
	bad := spec
	bad.Quantity = 13
	if _, err := svc.PlaceOrder(ctx, "acme", bad); err == nil {
		t.Fatal("a failed store write succeeded")
	}
	if _, err := svc.PlaceOrder(ctx, "acme", domain.Spec{}); err == nil {
		t.Fatal("an invalid order succeeded")
	}
	if _, _, err := svc.PlaceOrderOnce(ctx, "acme", "new", spec); err != nil {
		t.Fatal(err)
	}
	if _, replayed, err := svc.PlaceOrderOnce(ctx, "acme", "seen", spec); err != nil || !replayed {
		t.Fatalf("replay = %v, %v", replayed, err)
	}
	if got := len(m.OrderCreatedCalls()); got != 2 {
		t.Errorf("OrderCreated called %d times; want 2 (one plain, one keyed; not the failed, invalid or replayed ones)", got)
	}
}
