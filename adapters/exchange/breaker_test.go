package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
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

// TestBreakerOpensWithinMinCallsOnAFailingExchange: calls one at a time
// on an exchange that fails every call open the circuit at the MinCalls-th.
func TestBreakerOpensWithinMinCallsOnAFailingExchange(t *testing.T) {
	inner := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return exchange.ErrUnavailable }}
	b := exchange.NewBreaker(inner, exchange.BreakerConfig{Window: time.Hour, Quiet: time.Hour, Logger: discard()})
	calls := 0
	for b.Ready() && calls < 1000 {
		_ = b.Place(context.Background(), order(t))
		calls++
	}
	t.Logf("opened after %d calls (MinCalls %d)", calls, exchange.DefaultBreakerMinCalls)
	if calls != exchange.DefaultBreakerMinCalls {
		t.Errorf("opened after %d calls; want %d", calls, exchange.DefaultBreakerMinCalls)
	}
}

// TestBreakerOpensOnAFailingExchangeWithCallsInFlight: 256 calls in
// flight, all failing. Calls still in flight count as not failed, so the
// circuit opens once the failures outnumber them: after 128 of 256.
func TestBreakerOpensOnAFailingExchangeWithCallsInFlight(t *testing.T) {
	const inFlight = 256
	var started sync.WaitGroup
	started.Add(inFlight)
	turn := make(chan struct{})
	inner := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
		started.Done()
		<-turn // the test lets failures back one at a time
		return exchange.ErrUnavailable
	}}
	b := exchange.NewBreaker(inner, exchange.BreakerConfig{Window: time.Hour, Quiet: time.Hour, Logger: discard()})
	done := make(chan struct{})
	for range inFlight {
		go func() {
			_ = b.Place(context.Background(), order(t))
			done <- struct{}{}
		}()
	}
	started.Wait()
	failed := 0
	for b.Ready() && failed < inFlight {
		turn <- struct{}{}
		<-done
		failed++
	}
	t.Logf("opened after %d failures of %d calls in flight", failed, inFlight)
	if want := inFlight / 2; failed != want {
		t.Errorf("opened after %d failures; want %d (half of those in flight)", failed, want)
	}
	for range inFlight - failed {
		turn <- struct{}{}
		<-done
	}
	if err := b.Place(context.Background(), order(t)); !errors.Is(err, exchange.ErrCircuitOpen) {
		t.Errorf("after the burst: %v; want ErrCircuitOpen", err)
	}
	if n := len(inner.PlaceCalls()); n != inFlight {
		t.Errorf("exchange called %d times; want %d (none once open)", n, inFlight)
	}
}

// TestBreakerNeverOpensOnAHealthyStartUpBurst is the case a consecutive
// failures rule, or a ratio over completed calls, gets wrong: at high
// concurrency a healthy exchange's instant failures (10 %) all come back
// before its slow successes. Each of 512 slots calls until one call
// succeeds, as the dispatcher refills a slot freed by a failure; the
// successes are held until every slot waits on one. Bursts repeat within
// one window, over many seeds.
func TestBreakerNeverOpensOnAHealthyStartUpBurst(t *testing.T) {
	const slots, bursts, seeds = 512, 10, 40
	worst := 0 // most failures back before the first success, over all bursts
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 12))
		var mu sync.Mutex
		release := make(chan struct{})
		var waiting sync.WaitGroup
		inner := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
			mu.Lock()
			fail := rng.IntN(10) == 0
			rel := release
			mu.Unlock()
			if fail {
				return exchange.ErrUnavailable
			}
			waiting.Done()
			<-rel
			return nil
		}}
		b := exchange.NewBreaker(inner, exchange.BreakerConfig{Window: time.Hour, Quiet: time.Hour, Logger: discard()})
		for burst := range bursts {
			var failures atomic.Int64
			var all sync.WaitGroup
			waiting.Add(slots)
			all.Add(slots)
			for range slots {
				go func() {
					defer all.Done()
					for {
						err := b.Place(context.Background(), order(t))
						if err == nil {
							return
						}
						if errors.Is(err, exchange.ErrCircuitOpen) {
							waiting.Done() // the slot gives up: the test fails below
							return
						}
						failures.Add(1)
					}
				}()
			}
			waiting.Wait() // every failure is back; no success yet
			worst = max(worst, int(failures.Load()))
			if b.State() != ports.GateClosed {
				t.Fatalf("seed %d burst %d: state %s after %d failures and no success yet; want closed", seed, burst, b.State(), failures.Load())
			}
			mu.Lock()
			close(release)
			release = make(chan struct{})
			mu.Unlock()
			all.Wait()
			if b.State() != ports.GateClosed {
				t.Fatalf("seed %d burst %d: state %s; want closed", seed, burst, b.State())
			}
		}
	}
	t.Logf("up to %d failures came back before the first success of a burst", worst)
	// The test is only worth something if a ratio over completed calls
	// would have tripped: MinCalls failures and nothing else back.
	if worst < exchange.DefaultBreakerMinCalls {
		t.Errorf("at most %d failures before a success; the bursts are too small to test the rule", worst)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

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
