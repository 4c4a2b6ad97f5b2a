package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	inner := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
		if failing.Load() {
			return exchange.ErrUnavailable
		}
		return nil
	}}
	b := exchange.NewBreaker(inner, exchange.BreakerConfig{Failures: 3, Quiet: time.Nanosecond, OpenFor: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	o := order(t)
	ctx := context.Background()

	for i := range 3 {
		if err := b.Place(ctx, o); !errors.Is(err, exchange.ErrUnavailable) {
			t.Fatalf("call %d: %v; want the exchange's error", i, err)
		}
	}
	if b.State() != ports.GateOpen || b.Ready() {
		t.Fatalf("after 3 failures state = %s, ready %v; want open, not ready", b.State(), b.Ready())
	}
	if err := b.Place(ctx, o); !errors.Is(err, exchange.ErrCircuitOpen) {
		t.Fatalf("open circuit: %v; want ErrCircuitOpen", err)
	}
	if n := len(inner.PlaceCalls()); n != 3 {
		t.Errorf("exchange called %d times; want 3 (none while open)", n)
	}

	failing.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for !b.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("circuit never went half-open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b.State() != ports.GateHalfOpen {
		t.Fatalf("state = %s; want half-open", b.State())
	}
	if err := b.Place(ctx, o); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != ports.GateClosed {
		t.Errorf("after a good probe state = %s; want closed", b.State())
	}
}

func TestBreakerCountsRefusalsAsAnswers(t *testing.T) {
	inner := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
		return fmt.Errorf("unknown instrument: %w", domain.ErrRejected)
	}}
	b := exchange.NewBreaker(inner, exchange.BreakerConfig{Failures: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for range 10 {
		if err := b.Place(context.Background(), order(t)); !errors.Is(err, domain.ErrRejected) {
			t.Fatalf("error = %v; want the refusal passed through", err)
		}
	}
	if b.State() != ports.GateClosed {
		t.Errorf("state after refusals = %s; want closed: the exchange is up", b.State())
	}
}

// TestBreakerIgnoresABurstOfFailuresFromAHealthyExchange is the case that
// consecutive failures alone get wrong: at high concurrency, instant
// failures come back before slow successes.
func TestBreakerIgnoresABurstOfFailuresFromAHealthyExchange(t *testing.T) {
	inner := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return exchange.ErrUnavailable }}
	b := exchange.NewBreaker(inner, exchange.BreakerConfig{Failures: 3, Quiet: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for range 100 {
		_ = b.Place(context.Background(), order(t))
	}
	if b.State() != "closed" {
		t.Errorf("state after 100 failures within the quiet period = %s; want closed", b.State())
	}
}

func TestBreakerPassesCancel(t *testing.T) {
	var failing atomic.Bool
	inner := &mocks.ExchangeMock{
		PlaceFunc: func(ctx context.Context, o domain.Order) error { return exchange.ErrUnavailable },
		CancelFunc: func(ctx context.Context, id domain.ID) error {
			if failing.Load() {
				return exchange.ErrCancelUnavailable
			}
			return fmt.Errorf("too late: filled: %w", domain.ErrRejected)
		},
	}
	b := exchange.NewBreaker(inner, exchange.BreakerConfig{Failures: 2, Quiet: time.Nanosecond, OpenFor: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	id := domain.NewID(t0)

	if err := b.Cancel(ctx, id); !errors.Is(err, domain.ErrRejected) {
		t.Fatalf("Cancel = %v; want the refusal passed through", err)
	}
	if got := inner.CancelCalls(); len(got) != 1 || got[0].ID != id {
		t.Fatalf("inner cancels %+v; want one for %s", got, id)
	}
	// Cancels and placements share the circuit: failures of either open
	// it for both.
	failing.Store(true)
	if err := b.Cancel(ctx, id); !errors.Is(err, exchange.ErrCancelUnavailable) {
		t.Fatalf("Cancel = %v; want the exchange's error", err)
	}
	if err := b.Place(ctx, order(t)); !errors.Is(err, exchange.ErrUnavailable) {
		t.Fatalf("Place = %v; want the exchange's error", err)
	}
	if b.State() != ports.GateOpen {
		t.Fatalf("state = %s; want open", b.State())
	}
	if err := b.Cancel(ctx, id); !errors.Is(err, exchange.ErrCircuitOpen) {
		t.Errorf("Cancel on an open circuit = %v; want ErrCircuitOpen", err)
	}
	if n := len(inner.CancelCalls()); n != 2 {
		t.Errorf("inner cancels %d; want 2 (none while open)", n)
	}
}
