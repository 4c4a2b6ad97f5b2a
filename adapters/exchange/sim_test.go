package exchange_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/domain"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func order(t *testing.T) domain.Order {
	t.Helper()
	o, err := domain.New(domain.NewID(t0), t0, domain.Spec{Type: domain.Market, Side: domain.Buy, Instrument: "US0378331005", Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func newSim(t *testing.T, cfg exchange.SimConfig) *exchange.Sim {
	t.Helper()
	s, err := exchange.NewSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func always(v float64) func() float64 { return func() float64 { return v } }

func TestSimFailsWithTheReferenceMessage(t *testing.T) {
	s := newSim(t, exchange.SimConfig{FailureRate: 0.1, Latency: time.Hour, Rand: always(0.05)})
	err := s.Place(context.Background(), order(t)) // fails at once: the hour of latency is never waited
	if !errors.Is(err, exchange.ErrUnavailable) {
		t.Fatalf("error = %v; want ErrUnavailable", err)
	}
	if got, want := err.Error(), "Failed to place order at stock exchange. Connection not available"; got != want {
		t.Errorf("message = %q; want %q", got, want)
	}
	if errors.Is(err, domain.ErrRejected) {
		t.Error("the connection error must be transient, not ErrRejected")
	}
	if got := s.Stats(); got != (exchange.SimStats{Calls: 1, Failures: 1}) {
		t.Errorf("stats = %+v", got)
	}
}

func TestSimPlacesOnceAndAcknowledgesRepeats(t *testing.T) {
	s := newSim(t, exchange.SimConfig{FailureRate: 0.1, Latency: time.Millisecond, Rand: always(0.5)})
	o := order(t)
	for range 3 {
		if err := s.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Placements(o.ID); got != 1 {
		t.Errorf("placements = %d; want 1", got)
	}
	if got := s.Stats(); got != (exchange.SimStats{Calls: 3, Placed: 1, Duplicates: 2}) {
		t.Errorf("stats = %+v; want 3 calls, 1 placed, 2 duplicates", got)
	}
}

func TestSimMissingOrderIsPermanent(t *testing.T) {
	s := newSim(t, exchange.SimConfig{Rand: always(0.5)})
	if err := s.Place(context.Background(), domain.Order{}); !errors.Is(err, domain.ErrRejected) {
		t.Errorf("error = %v; want ErrRejected", err)
	}
}

func TestSimHonoursCancellation(t *testing.T) {
	s := newSim(t, exchange.SimConfig{Latency: time.Hour, Rand: always(0.5)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Place(ctx, order(t)) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, domain.ErrRejected) {
			t.Errorf("error = %v; want a transient context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Place did not return after its context was cancelled")
	}
	if got := s.Stats().Placed; got != 0 {
		t.Errorf("placed = %d after a cancelled call; want 0", got)
	}
}

func TestNewSimValidates(t *testing.T) {
	for _, cfg := range []exchange.SimConfig{{FailureRate: -0.1}, {FailureRate: 1.1}, {Latency: -time.Second}} {
		if _, err := exchange.NewSim(cfg); err == nil {
			t.Errorf("NewSim(%+v) succeeded; want an error", cfg)
		}
	}
}

func TestSimConcurrentCounts(t *testing.T) {
	s := newSim(t, exchange.SimConfig{Rand: always(0.5)})
	var orders []domain.Order
	for range 1000 {
		orders = append(orders, order(t))
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, o := range orders {
				if i%8 == w || i%10 == 0 { // every tenth order is placed by all 8 workers
					if err := s.Place(context.Background(), o); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	// 1000 orders; the 100 multiples of 10 get 8 calls each, the rest 1.
	if st.Placed != 1000 || st.Calls != 900+100*8 || st.Duplicates != 100*7 {
		t.Errorf("stats = %+v; want 1000 placed, 1700 calls, 700 duplicates", st)
	}
	for _, o := range orders {
		if n := s.Placements(o.ID); n != 1 {
			t.Fatalf("order %s placed %d times; want 1", o.ID, n)
		}
	}
}

func TestSimDefaultFailureShare(t *testing.T) {
	s := newSim(t, exchange.SimConfig{FailureRate: 0.1})
	o := order(t)
	const n = 20000
	for range n {
		_ = s.Place(context.Background(), o)
	}
	share := float64(s.Stats().Failures) / n
	// 0.1 ± 0.02 is more than 9 standard deviations (0.0021) wide: this
	// fails only if the rate is wrong.
	if share < 0.08 || share > 0.12 {
		t.Errorf("failure share over %d calls = %.4f; want about 0.1", n, share)
	}
}
