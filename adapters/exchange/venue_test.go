package exchange_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/domain"
)

// placed returns how many times the venue placed the order with the given
// ID: 0 or 1, since repeats are acknowledged without placing.
func placed(v *exchange.Venue, id domain.ID) int {
	if _, ok := v.Order(id); ok {
		return 1
	}
	return 0
}

func orderIDs(recs []exchange.VenueOrder) []domain.ID {
	ids := make([]domain.ID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// ignoreReports leaves the feed out of the placement counters.
var ignoreReports = cmpopts.IgnoreFields(exchange.VenueStats{}, "Reports")

func TestVenueFailsAtOnceWithTheReferenceMessage(t *testing.T) {
	// An hour of latency: if the failure path waited, the test would time out.
	s := newVenue(t, exchange.VenueConfig{FailureRate: 0.1, Latency: time.Hour, Rand: always(0.05)})
	o := order(t)
	err := s.Place(context.Background(), o)
	if !errors.Is(err, exchange.ErrUnavailable) {
		t.Fatalf("Place error = %v; want ErrUnavailable", err)
	}
	if got, want := err.Error(), "Failed to place order at stock exchange. Connection not available"; got != want {
		t.Errorf("message = %q; want %q", got, want)
	}
	if errors.Is(err, domain.ErrRejected) {
		t.Error("the connection failure matches ErrRejected; it must be transient")
	}
	if diff := cmp.Diff(exchange.VenueStats{Calls: 1, Failures: 1}, s.Stats(), ignoreReports); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if got := placed(s, o.ID); got != 0 {
		t.Errorf("placed = %d after a failed call; want 0", got)
	}
}

func TestVenueFailureRateDecides(t *testing.T) {
	tests := []struct {
		rate, dice float64
		fail       bool
	}{
		{0, 0, false},
		{0.1, 0, true},
		{0.1, 0.0999, true},
		{0.1, 0.1, false},
		{0.1, 0.9999, false},
		{1, 0.9999, true},
	}
	for _, tt := range tests {
		s := newVenue(t, exchange.VenueConfig{FailureRate: tt.rate, Rand: always(tt.dice)})
		err := s.Place(context.Background(), order(t))
		if got := errors.Is(err, exchange.ErrUnavailable); got != tt.fail || (!tt.fail && err != nil) {
			t.Errorf("rate %v, dice %v: Place error = %v; want failure %v", tt.rate, tt.dice, err, tt.fail)
		}
	}
}

func TestVenuePlacesAfterTheLatency(t *testing.T) {
	s := newVenue(t, exchange.VenueConfig{FailureRate: 0.1, Latency: time.Millisecond, Rand: always(0.5)})
	o := order(t)
	if err := s.Place(context.Background(), o); err != nil {
		t.Fatalf("Place error: %v", err)
	}
	if got := placed(s, o.ID); got != 1 {
		t.Errorf("placed = %d; want 1", got)
	}
	if diff := cmp.Diff([]domain.ID{o.ID}, orderIDs(s.Orders())); diff != "" {
		t.Errorf("Orders (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(exchange.VenueStats{Calls: 1, Placed: 1}, s.Stats(), ignoreReports); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestVenueAcknowledgesRepeatsWithoutPlacingTwice(t *testing.T) {
	s := newVenue(t, exchange.VenueConfig{Rand: always(0.5)})
	o, other := order(t), order(t)
	for range 3 {
		if err := s.Place(context.Background(), o); err != nil {
			t.Fatalf("Place error: %v", err)
		}
	}
	if err := s.Place(context.Background(), other); err != nil {
		t.Fatalf("Place error: %v", err)
	}
	if got := placed(s, o.ID); got != 1 {
		t.Errorf("placed(repeated) = %d; want 1", got)
	}
	if got := placed(s, domain.NewID(t0)); got != 0 {
		t.Errorf("placed(never sent) = %d; want 0", got)
	}
	if diff := cmp.Diff(exchange.VenueStats{Calls: 4, Placed: 2, Duplicates: 2}, s.Stats(), ignoreReports); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if got := len(orderIDs(s.Orders())); got != 2 {
		t.Errorf("len(Orders) = %d; want 2", got)
	}
}

func TestVenueRepeatAfterAFailureIsThePlacement(t *testing.T) {
	// The dispatcher's retry after ErrUnavailable must place the order: the
	// failed call placed nothing, so the retry is no duplicate.
	s := newVenue(t, exchange.VenueConfig{FailureRate: 0.1, Rand: dice(0.05, 0.5, 0.5)})
	o := order(t)
	wantErrs := []error{exchange.ErrUnavailable, nil, nil}
	for i, want := range wantErrs {
		if err := s.Place(context.Background(), o); !errors.Is(err, want) {
			t.Fatalf("call %d: Place error = %v; want %v", i+1, err, want)
		}
	}
	if diff := cmp.Diff(exchange.VenueStats{Calls: 3, Failures: 1, Placed: 1, Duplicates: 1}, s.Stats(), ignoreReports); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestVenueMissingOrderIsPermanent(t *testing.T) {
	tests := []struct {
		name string
		dice float64
	}{
		{"dice say succeed", 0.5},
		// A permanent refusal must not be masked by a transient failure.
		{"dice say fail", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newVenue(t, exchange.VenueConfig{FailureRate: 0.1, Latency: time.Hour, Rand: always(tt.dice)})
			err := s.Place(context.Background(), domain.Order{Quantity: 1})
			if !errors.Is(err, domain.ErrRejected) {
				t.Fatalf("Place error = %v; want ErrRejected", err)
			}
			if errors.Is(err, exchange.ErrUnavailable) || !strings.Contains(err.Error(), "order is missing") {
				t.Errorf("Place error = %q; want only the missing-order refusal", err)
			}
			if diff := cmp.Diff(exchange.VenueStats{Calls: 1, Rejected: 1}, s.Stats(), ignoreReports); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVenueCancelDuringTheLatency(t *testing.T) {
	// Rand runs after the up-front context check and just before the wait,
	// so once it has run, only the wait itself can notice the cancellation.
	rolled := make(chan struct{})
	s := newVenue(t, exchange.VenueConfig{Latency: time.Hour, Rand: func() float64 { close(rolled); return 0.5 }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := order(t)
	done := make(chan error, 1)
	go func() { done <- s.Place(ctx, o) }()
	<-rolled
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Place error = %v; want one wrapping context.Canceled", err)
		}
		if errors.Is(err, domain.ErrRejected) || errors.Is(err, exchange.ErrUnavailable) {
			t.Errorf("Place error = %v; want a transient error that is not the simulated failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Place did not return after its context was cancelled")
	}
	if diff := cmp.Diff(exchange.VenueStats{Calls: 1, Cancelled: 1}, s.Stats(), ignoreReports); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if got := placed(s, o.ID); got != 0 {
		t.Errorf("placed = %d after a cancelled call; want 0", got)
	}
}

func TestVenueDeadlineEndsTheWait(t *testing.T) {
	s := newVenue(t, exchange.VenueConfig{Latency: time.Hour, Rand: always(0.5)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Place(ctx, order(t)) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Place error = %v; want context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Place did not return after its deadline")
	}
}

func TestVenueAlreadyCancelledPlacesNothing(t *testing.T) {
	// Latency 0 never waits, so only the up-front check can stop the call.
	s := newVenue(t, exchange.VenueConfig{Rand: always(0.5)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := order(t)
	if err := s.Place(ctx, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("Place error = %v; want context.Canceled", err)
	}
	if got := placed(s, o.ID); got != 0 {
		t.Errorf("placed = %d after a cancelled call; want 0", got)
	}
}

func TestNewVenueValidates(t *testing.T) {
	tests := []struct {
		name  string
		cfg   exchange.VenueConfig
		field string // in the error, or "" for a valid config
	}{
		{"zero value", exchange.VenueConfig{}, ""},
		{"defaults", exchange.VenueConfig{FailureRate: exchange.DefaultFailureRate, Latency: exchange.DefaultLatency}, ""},
		{"always fails", exchange.VenueConfig{FailureRate: 1}, ""},
		{"negative rate", exchange.VenueConfig{FailureRate: -0.1}, "FailureRate"},
		{"rate above 1", exchange.VenueConfig{FailureRate: 1.1}, "FailureRate"},
		{"NaN rate", exchange.VenueConfig{FailureRate: math.NaN()}, "FailureRate"},
		{"infinite rate", exchange.VenueConfig{FailureRate: math.Inf(1)}, "FailureRate"},
		{"negative latency", exchange.VenueConfig{Latency: -time.Nanosecond}, "Latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := exchange.NewVenue(tt.cfg)
			if tt.field == "" {
				if err != nil || s == nil {
					t.Errorf("NewVenue(%+v) = %v, %v; want a simulator", tt.cfg, s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("NewVenue(%+v) error = %v; want an error naming %s", tt.cfg, err, tt.field)
			}
		})
	}
}

func TestVenueDefaultsAreTheReference(t *testing.T) {
	if exchange.DefaultFailureRate != 0.1 || exchange.DefaultLatency != 500*time.Millisecond {
		t.Errorf("defaults = %v, %s; want 0.1 and 500ms", exchange.DefaultFailureRate, exchange.DefaultLatency)
	}
}

func TestVenueConcurrentCounts(t *testing.T) {
	s := newVenue(t, exchange.VenueConfig{})
	const n, workers = 1000, 8
	orders := make([]domain.Order, n)
	for i := range orders {
		orders[i] = order(t)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i, o := range orders {
				// Every tenth order is sent by all workers at about the
				// same time, the rest by one worker each.
				if i%workers == w || i%10 == 0 {
					if err := s.Place(context.Background(), o); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()

	// The 100 multiples of 10 get 8 calls each, the other 900 orders one.
	// Each order of 1, placed, is acknowledged and filled at once: two
	// reports.
	want := exchange.VenueStats{Calls: 900 + 100*workers, Placed: n, Duplicates: 100 * (workers - 1), Reports: 2 * n}
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	for _, o := range orders {
		if got := placed(s, o.ID); got != 1 {
			t.Fatalf("order %s placed %d times; want 1", o.ID, got)
		}
	}
	ids := orderIDs(s.Orders())
	if len(ids) != n {
		t.Fatalf("len(Orders) = %d; want %d", len(ids), n)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1].String() >= ids[i].String() {
			t.Fatalf("Orders not in ID order at %d: %s, %s", i, ids[i-1], ids[i])
		}
	}
}

func TestVenueReferenceFailureShare(t *testing.T) {
	s := newVenue(t, exchange.VenueConfig{FailureRate: exchange.DefaultFailureRate})
	o := order(t)
	const n = 20000
	for range n {
		_ = s.Place(context.Background(), o)
	}
	st := s.Stats()
	share := float64(st.Failures) / n
	// The standard deviation of the share is sqrt(0.1*0.9/20000) = 0.0021,
	// so 0.08..0.12 is over 9 of them either side: a failure means the rate
	// is wrong, not bad luck.
	if share < 0.08 || share > 0.12 {
		t.Errorf("failure share over %d calls = %.4f; want 0.1 ± 0.02", n, share)
	}
	if st.Calls != n || st.Placed != 1 || st.Failures+st.Placed+st.Duplicates != n {
		t.Errorf("stats = %+v; want %d calls that failed, placed once, or were acknowledged", st, n)
	}
}
