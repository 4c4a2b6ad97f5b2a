package exchange_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

// stormOutbox is an in-memory outbox that counts retry writes.
type stormOutbox struct {
	mu      sync.Mutex
	now     time.Time // the fake clock
	jobs    map[domain.ID]*stormJob
	retries int
}

type stormJob struct {
	order   domain.Order
	due     time.Time
	attempt int
	leased  bool
}

func (s *stormOutbox) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *stormOutbox) create(o domain.Order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[o.ID] = &stormJob{order: o, due: s.now}
}

func (s *stormOutbox) Claim(_ context.Context, c ports.Claim) ([]ports.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ports.Job
	for _, j := range s.jobs {
		if len(out) == c.Limit {
			break
		}
		if !j.leased && !j.due.After(c.Now) {
			j.leased = true
			j.attempt++
			out = append(out, ports.Job{Order: j.order, Attempt: j.attempt})
		}
	}
	return out, nil
}

func (s *stormOutbox) Release(_ context.Context, jobs []ports.Job, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pj := range jobs {
		s.jobs[pj.Order.ID].leased = false
	}
	return nil
}

func (s *stormOutbox) Settle(_ context.Context, pj ports.Job, o ports.Outcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[pj.Order.ID]
	j.leased = false
	if o.Result != ports.Retry {
		delete(s.jobs, pj.Order.ID)
		return nil
	}
	s.retries++
	j.due = o.Due
	return nil
}

// settledDown reports whether the dispatcher has nothing left to do this
// round: no job leased, and no job due unless the gate holds claims off.
func (s *stormOutbox) settledDown(gate ports.Gate) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	due := false
	for _, j := range s.jobs {
		if j.leased {
			return false
		}
		due = due || !j.due.After(s.now)
	}
	return !due || !gate.Ready()
}

// stormRound is one fake second of the retry-storm test.
type stormRound struct{ creates, retries int }

// runStorm drives a dispatcher (default concurrency, 256) through gate at
// an exchange that fails every call at once, for rounds fake seconds,
// each bringing creates new orders, and returns each round's retry writes.
// A round ends once the dispatcher has done all it will do at that time
// (retries wait for their backoff, 250 ms and up, so for the next round).
func runStorm(t *testing.T, gate interface {
	ports.Exchange
	ports.Gate
}, rounds, creates int) []stormRound {
	t.Helper()
	ob := &stormOutbox{now: t0, jobs: map[domain.ID]*stormJob{}}
	d, err := app.NewDispatcher(ob, gate, &mocks.ClockMock{NowFunc: ob.Now}, app.DispatcherConfig{
		PollInterval: time.Millisecond,
		Gate:         gate,
		Jitter:       func(max time.Duration) time.Duration { return max },
		Logger:       discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var out []stormRound
	for r := range rounds {
		ob.mu.Lock()
		before := ob.retries
		ob.mu.Unlock()
		for range creates {
			ob.create(order(t))
		}
		d.Wake()
		deadline := time.Now().Add(10 * time.Second)
		for !ob.settledDown(gate) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the dispatcher never settled down", r)
			}
			time.Sleep(time.Millisecond)
		}
		ob.mu.Lock()
		out = append(out, stormRound{creates: creates, retries: ob.retries - before})
		if n := len(ob.jobs); n != (r+1)*creates {
			t.Fatalf("round %d: %d orders pending; want %d (every create kept)", r, n, (r+1)*creates)
		}
		ob.now = ob.now.Add(time.Second)
		ob.mu.Unlock()
	}
	return out
}

// stormBounded checks the retry writes of a storm: at most bound in all,
// and none after the first round (the circuit is open, and no probe goes
// out within OpenFor).
func stormBounded(rounds []stormRound, bound int) (total int, ok bool) {
	ok = true
	for i, r := range rounds {
		total += r.retries
		ok = ok && (i == 0 || r.retries == 0)
	}
	return total, ok && total <= bound
}

// TestRetryWritesStayBoundedWhileTheExchangeFailsEveryCall is issue 12's
// proof: with the exchange failing every call from the start and 300
// orders created every second, the retry writes are at most two rounds
// of calls in flight (2 × 256: the calls already out when the circuit
// opens cannot be called back) in all, and none once it is open, while
// every create is kept. The control runs the breaker's old behaviour (no
// ratio rule; within its 5 s quiet period nothing opens it) and must
// fail the same bound: every create turns into a retry write each round.
func TestRetryWritesStayBoundedWhileTheExchangeFailsEveryCall(t *testing.T) {
	const rounds, creates, bound = 20, 300, 2 * app.DefaultConcurrency
	failing := func() *mocks.ExchangeMock {
		return &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return exchange.ErrUnavailable }}
	}

	b := exchange.NewBreaker(failing(), exchange.BreakerConfig{Window: time.Hour, Quiet: time.Hour, OpenFor: time.Hour, Logger: discard()})
	got := runStorm(t, b, rounds, creates)
	total, ok := stormBounded(got, bound)
	t.Logf("ratio rule: %d retry writes for %d creates over %d rounds: %v", total, rounds*creates, rounds, got)
	if !ok {
		t.Errorf("%d retry writes over %d rounds (%v); want at most %d, none once open", total, rounds, got, bound)
	}
	if b.State() != ports.GateOpen {
		t.Errorf("state = %s; want open", b.State())
	}

	old := exchange.NewBreaker(failing(), exchange.BreakerConfig{MinCalls: 1 << 30, Failures: 20, Quiet: time.Hour, OpenFor: time.Hour, Logger: discard()})
	got = runStorm(t, old, rounds, creates)
	total, ok = stormBounded(got, bound)
	t.Logf("old rule: %d retry writes for %d creates over %d rounds", total, rounds*creates, rounds)
	if ok {
		t.Errorf("the old rule stayed within the bound (%d retry writes); the test cannot tell the rules apart", total)
	}
}
