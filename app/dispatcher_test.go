package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) mock() *mocks.ClockMock { return &mocks.ClockMock{NowFunc: c.Now} }

func testOrder(t *testing.T) domain.Order {
	t.Helper()
	o, err := domain.New(domain.NewID(t0), t0, domain.Spec{Type: domain.Market, Side: domain.Buy, Instrument: "US0378331005", Quantity: 3})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newDispatcher(t *testing.T, ob ports.Outbox, ex ports.Exchange, clk ports.Clock, cfg app.DispatcherConfig) *app.Dispatcher {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(max time.Duration) time.Duration { return max } // deterministic: the ceiling
	}
	d, err := app.NewDispatcher(ob, ex, clk, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// oneJobOutbox returns a mock outbox whose first claim returns j and later
// claims return nothing; settles succeed.
func oneJobOutbox(j ports.Job) *mocks.OutboxMock {
	var claimed atomic.Bool
	return &mocks.OutboxMock{
		ClaimFunc: func(ctx context.Context, c ports.Claim) ([]ports.Job, error) {
			if claimed.Swap(true) {
				return nil, nil
			}
			return []ports.Job{j}, nil
		},
		SettleFunc: func(ctx context.Context, j ports.Job, o ports.Outcome) error { return nil },
	}
}

// settleCall is one recorded call of OutboxMock.Settle.
type settleCall = struct {
	Ctx context.Context
	J   ports.Job
	O   ports.Outcome
}

// settled returns the calls that recorded result r.
func settled(calls []settleCall, r ports.Result) []settleCall {
	var out []settleCall
	for _, c := range calls {
		if c.O.Result == r {
			out = append(out, c)
		}
	}
	return out
}

func TestDispatchOnceOutcomes(t *testing.T) {
	transient := errors.New("Failed to place order at stock exchange. Connection not available")
	tests := []struct {
		name                    string
		attempt                 int
		placeErr                error
		wantComplete, wantRetry int
		wantReject              int
		wantDueAfter            time.Duration // for retries: due - now
		wantCause               string
	}{
		{name: "success marks placed", attempt: 1, wantComplete: 1},
		{name: "transient failure retries after the first backoff", attempt: 1, placeErr: transient, wantRetry: 1, wantDueAfter: 250 * time.Millisecond, wantCause: transient.Error()},
		{name: "backoff doubles per attempt", attempt: 4, placeErr: transient, wantRetry: 1, wantDueAfter: 2 * time.Second, wantCause: transient.Error()},
		{name: "backoff is capped", attempt: 400, placeErr: transient, wantRetry: 1, wantDueAfter: 30 * time.Second, wantCause: transient.Error()},
		{name: "wrapped timeout is transient", attempt: 2, placeErr: fmt.Errorf("exchange: %w", context.DeadlineExceeded), wantRetry: 1, wantDueAfter: 500 * time.Millisecond, wantCause: "exchange: context deadline exceeded"},
		{name: "permanent failure rejects", attempt: 1, placeErr: fmt.Errorf("exchange said no: %w", domain.ErrRejected), wantReject: 1, wantCause: "exchange said no: rejected by the exchange"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			job := ports.Job{Order: testOrder(t), Attempt: tt.attempt}
			ob := oneJobOutbox(job)
			ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return tt.placeErr }}
			d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{})

			n, err := d.DispatchOnce(context.Background())
			if err != nil || n != 1 {
				t.Fatalf("DispatchOnce = %d, %v; want 1, nil", n, err)
			}
			if got := ex.PlaceCalls(); len(got) != 1 || got[0].O.ID != job.Order.ID {
				t.Fatalf("exchange calls = %+v; want one with order %s", got, job.Order.ID)
			}
			if got := len(settled(ob.SettleCalls(), ports.Done)); got != tt.wantComplete {
				t.Errorf("Complete calls = %d; want %d", got, tt.wantComplete)
			}
			if got := len(settled(ob.SettleCalls(), ports.Retry)); got != tt.wantRetry {
				t.Errorf("Retry calls = %d; want %d", got, tt.wantRetry)
			}
			if got := len(settled(ob.SettleCalls(), ports.Refused)); got != tt.wantReject {
				t.Errorf("Reject calls = %d; want %d", got, tt.wantReject)
			}
			if tt.wantComplete == 1 {
				c := settled(ob.SettleCalls(), ports.Done)[0]
				if !cmp.Equal(c.J, job) || !c.O.At.Equal(t0) {
					t.Errorf("Settle(%+v, %+v); want the claimed job done at %s", c.J, c.O, t0)
				}
			}
			if tt.wantRetry == 1 {
				r := settled(ob.SettleCalls(), ports.Retry)[0]
				if got := r.O.Due.Sub(t0); got != tt.wantDueAfter {
					t.Errorf("retry due after %s; want %s", got, tt.wantDueAfter)
				}
				if r.O.Cause != tt.wantCause || !cmp.Equal(r.J, job) {
					t.Errorf("Retry(job %+v, cause %q); want job %+v, cause %q", r.J, r.O.Cause, job, tt.wantCause)
				}
			}
			if tt.wantReject == 1 {
				if got := settled(ob.SettleCalls(), ports.Refused)[0].O.Cause; got != tt.wantCause {
					t.Errorf("reject cause = %q; want %q", got, tt.wantCause)
				}
			}
		})
	}
}

func TestClaimAsksForLeaseAtClockTime(t *testing.T) {
	clk := newClock()
	clk.Advance(time.Hour)
	ob := oneJobOutbox(ports.Job{Order: testOrder(t), Attempt: 1})
	ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return nil }}
	d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{Concurrency: 7, Lease: time.Minute, Owner: "me"})
	if _, err := d.DispatchOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := ob.ClaimCalls()[0].C
	want := ports.Claim{Owner: "me", Now: t0.Add(time.Hour), Lease: time.Minute, Limit: 7}
	if got != want {
		t.Errorf("claim = %+v; want %+v", got, want)
	}
}

func TestBackoffFullJitterStaysWithinCeiling(t *testing.T) {
	d, err := app.NewDispatcher(&mocks.OutboxMock{}, &mocks.ExchangeMock{}, newClock().mock(), app.DispatcherConfig{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 70; attempt++ {
		ceiling := min(app.DefaultRetryMax, app.DefaultRetryBase<<min(attempt-1, 20))
		var sawLow, sawHigh bool
		for range 200 {
			got := d.Backoff(attempt)
			if got < 0 || got > ceiling {
				t.Fatalf("Backoff(%d) = %s; want within [0, %s]", attempt, got, ceiling)
			}
			sawLow = sawLow || got < ceiling/2
			sawHigh = sawHigh || got >= ceiling/2
		}
		if !sawLow || !sawHigh {
			t.Errorf("Backoff(%d) over 200 draws never fell in both halves of [0, %s]: not jittered", attempt, ceiling)
		}
	}
}

func TestNewDispatcherRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  app.DispatcherConfig
		want string
	}{
		{"negative concurrency", app.DispatcherConfig{Concurrency: -1}, "concurrency"},
		{"lease shorter than a call", app.DispatcherConfig{Lease: time.Second, CallTimeout: 2 * time.Second}, "lease"},
		{"retry max below base", app.DispatcherConfig{RetryBase: time.Minute, RetryMax: time.Second}, "retry max"},
		{"negative poll", app.DispatcherConfig{PollInterval: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := app.NewDispatcher(&mocks.OutboxMock{}, &mocks.ExchangeMock{}, newClock().mock(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewDispatcher error = %v; want one mentioning %q", err, tt.want)
			}
		})
	}
}

// leaseOutbox is an in-memory outbox with real lease semantics, built on the
// moq mock so calls are recorded too.
type leaseOutbox struct {
	mu   sync.Mutex
	jobs map[domain.ID]*leaseJob
	*mocks.OutboxMock
}

type leaseJob struct {
	order    domain.Order
	due      time.Time
	attempts int
	done     string // "placed", "rejected" or ""
}

func newLeaseOutbox(orders ...domain.Order) *leaseOutbox {
	lo := &leaseOutbox{jobs: map[domain.ID]*leaseJob{}}
	for _, o := range orders {
		lo.jobs[o.ID] = &leaseJob{order: o, due: o.CreatedAt}
	}
	lo.OutboxMock = &mocks.OutboxMock{
		ClaimFunc: func(ctx context.Context, c ports.Claim) ([]ports.Job, error) {
			lo.mu.Lock()
			defer lo.mu.Unlock()
			var out []ports.Job
			for _, j := range lo.jobs {
				if len(out) == c.Limit {
					break
				}
				if j.done == "" && !j.due.After(c.Now) {
					j.attempts++
					j.due = c.Now.Add(c.Lease)
					out = append(out, ports.Job{Order: j.order, Attempt: j.attempts})
				}
			}
			return out, nil
		},
		SettleFunc: func(ctx context.Context, pj ports.Job, o ports.Outcome) error {
			lo.mu.Lock()
			defer lo.mu.Unlock()
			j := lo.jobs[pj.Order.ID]
			if o.Result == ports.Done {
				j.done = "placed" // not fenced, as the real outbox
				return nil
			}
			if j.done != "" || j.attempts != pj.Attempt {
				return fmt.Errorf("settle: %w", domain.ErrLeaseLost)
			}
			if o.Result == ports.Refused {
				j.done = "rejected"
			} else {
				j.due = o.Due
			}
			return nil
		},
	}
	return lo
}

func (lo *leaseOutbox) state(id domain.ID) leaseJob {
	lo.mu.Lock()
	defer lo.mu.Unlock()
	return *lo.jobs[id]
}

func TestLeaseExpiryTakeover(t *testing.T) {
	clk := newClock()
	o := testOrder(t)
	ob := newLeaseOutbox(o)
	cfg := app.DispatcherConfig{Lease: 30 * time.Second, CallTimeout: 10 * time.Second}

	// Dispatcher A claims the job and then hangs in the exchange call, as a
	// crashed or partitioned process would.
	release := make(chan struct{})
	aCalled := make(chan struct{})
	hung := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
		close(aCalled)
		<-release
		return errors.New("connection reset")
	}}
	a := newDispatcher(t, ob, hung, clk.mock(), cfg)
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		if _, err := a.DispatchOnce(context.Background()); err != nil {
			t.Errorf("A: %v", err)
		}
	}()
	<-aCalled

	healthy := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return nil }}
	b := newDispatcher(t, ob, healthy, clk.mock(), cfg)

	// Before A's lease runs out, B finds nothing to do.
	clk.Advance(29 * time.Second)
	if n, err := b.DispatchOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("B before lease expiry handled %d jobs (err %v); want 0", n, err)
	}
	// Once it has run out, B takes the job over as attempt 2 and places it.
	clk.Advance(2 * time.Second)
	if n, err := b.DispatchOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("B after lease expiry handled %d jobs (err %v); want 1", n, err)
	}
	if got := settled(ob.SettleCalls(), ports.Done); len(got) != 1 || got[0].J.Attempt != 2 {
		t.Fatalf("Complete calls = %+v; want one for attempt 2", got)
	}
	if got := healthy.PlaceCalls()[0].O.ID; got != o.ID {
		t.Errorf("B placed %s; want the same client order ID %s", got, o.ID)
	}

	// A wakes up with a stale lease: its outcome must not overwrite B's.
	close(release)
	<-aDone
	if got := ob.state(o.ID).done; got != "placed" {
		t.Errorf("job state after A's late failure = %q; want placed", got)
	}
	if got := len(settled(ob.SettleCalls(), ports.Retry)); got != 1 {
		t.Errorf("A's Retry calls = %d; want 1 (refused with ErrLeaseLost)", got)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func runDispatcher(t *testing.T, d *app.Dispatcher) (cancel func(), done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		if err := d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-ch })
	return cancel, ch
}

func TestRunWakesWithoutWaitingForPoll(t *testing.T) {
	clk := newClock()
	ob := newLeaseOutbox()
	ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return nil }}
	// A poll interval of an hour: only Wake can make the job go out in time.
	d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{PollInterval: time.Hour})
	runDispatcher(t, d)
	waitFor(t, "the first, empty claim", func() bool { return len(ob.ClaimCalls()) >= 1 })

	o := testOrder(t)
	ob.mu.Lock()
	ob.jobs[o.ID] = &leaseJob{order: o, due: o.CreatedAt}
	ob.mu.Unlock()
	d.Wake()
	waitFor(t, "the woken dispatcher to place the order", func() bool { return ob.state(o.ID).done == "placed" })
}

func TestRunBoundsConcurrencyAndPlacesEverything(t *testing.T) {
	clk := newClock()
	var orders []domain.Order
	for range 40 {
		orders = append(orders, testOrder(t))
	}
	ob := newLeaseOutbox(orders...)
	var inFlight, peak atomic.Int32
	gate := make(chan struct{})
	ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-gate
		return nil
	}}
	d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{Concurrency: 3, PollInterval: time.Millisecond})
	runDispatcher(t, d)
	waitFor(t, "three calls in flight", func() bool { return inFlight.Load() == 3 })
	close(gate)
	waitFor(t, "every order placed", func() bool { return len(settled(ob.SettleCalls(), ports.Done)) == len(orders) })
	if p := peak.Load(); p != 3 {
		t.Errorf("peak concurrent exchange calls = %d; want 3", p)
	}
	for _, c := range ob.ClaimCalls() {
		if c.C.Limit < 1 || c.C.Limit > 3 {
			t.Errorf("claim limit %d; want within 1..3 (free slots only)", c.C.Limit)
		}
	}
}

func TestRunKeepsGoingAfterClaimErrors(t *testing.T) {
	clk := newClock()
	o := testOrder(t)
	ob := newLeaseOutbox(o)
	inner := ob.ClaimFunc
	var calls atomic.Int32
	ob.ClaimFunc = func(ctx context.Context, c ports.Claim) ([]ports.Job, error) {
		if calls.Add(1) <= 3 {
			return nil, errors.New("database is locked")
		}
		return inner(ctx, c)
	}
	ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return nil }}
	d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{PollInterval: time.Millisecond})
	runDispatcher(t, d)
	waitFor(t, "placement after the database recovers", func() bool { return ob.state(o.ID).done == "placed" })
}

func TestShutdownLetsInFlightCallsFinishWithinGrace(t *testing.T) {
	clk := newClock()
	o := testOrder(t)
	ob := newLeaseOutbox(o)
	started := make(chan struct{})
	finish := make(chan struct{})
	ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
		close(started)
		select {
		case <-finish:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{ShutdownGrace: time.Hour, PollInterval: time.Millisecond})
	cancel, done := runDispatcher(t, d)
	<-started
	cancel()
	// Run must still be waiting for the call: the grace period is an hour.
	select {
	case <-done:
		t.Fatal("Run returned while a call was in flight within the grace period")
	default:
	}
	close(finish)
	<-done
	if got := ob.state(o.ID).done; got != "placed" {
		t.Errorf("order state after graceful stop = %q; want placed", got)
	}
}

func TestShutdownPastGraceReleasesJobAtOnce(t *testing.T) {
	clk := newClock()
	o := testOrder(t)
	ob := newLeaseOutbox(o)
	started := make(chan struct{})
	ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
		close(started)
		<-ctx.Done() // an exchange that never answers
		return ctx.Err()
	}}
	d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{ShutdownGrace: time.Millisecond, CallTimeout: 20 * time.Second})
	cancel, done := runDispatcher(t, d)
	<-started
	cancel()
	<-done

	retries := settled(ob.SettleCalls(), ports.Retry)
	if len(retries) != 1 {
		t.Fatalf("Retry calls = %d; want 1 releasing the interrupted job", len(retries))
	}
	if r := retries[0]; !r.O.Due.Equal(clk.Now()) || !strings.Contains(r.O.Cause, "shutdown") {
		t.Errorf("Retry(due %s, cause %q); want due now (%s) and a shutdown cause", r.O.Due, r.O.Cause, clk.Now())
	}
	if got := len(settled(ob.SettleCalls(), ports.Done)) + len(settled(ob.SettleCalls(), ports.Refused)); got != 0 {
		t.Errorf("interrupted job was settled %d other times; want 0", got)
	}
}

func TestRunClaimsNothingWhileTheGateIsClosed(t *testing.T) {
	clk := newClock()
	o := testOrder(t)
	ob := newLeaseOutbox(o)
	ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return nil }}
	var ready atomic.Bool
	gate := &mocks.GateMock{ReadyFunc: ready.Load, StateFunc: func() ports.GateState { return ports.GateClosed }}
	d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{PollInterval: time.Millisecond, Gate: gate})
	runDispatcher(t, d)
	// Each poll asks the gate once: after five refusals, nothing was claimed.
	waitFor(t, "five polls against a closed gate", func() bool { return len(gate.ReadyCalls()) >= 5 })
	if n := len(ob.ClaimCalls()); n != 0 {
		t.Fatalf("claimed %d times with the gate closed; want 0", n)
	}
	ready.Store(true)
	waitFor(t, "placement once the gate opens", func() bool { return ob.state(o.ID).done == "placed" })
	if got := ob.state(o.ID).attempts; got != 1 {
		t.Errorf("attempts = %d; want 1 (no attempts burnt while held)", got)
	}
}

// TestShutdownDuringAClaimReleasesItsJobs stops the dispatcher while its
// claim is being committed: the jobs the claim leased are handed back at
// once, unstarted, instead of sitting leased to a stopped dispatcher.
func TestShutdownDuringAClaimReleasesItsJobs(t *testing.T) {
	for _, viaRun := range []bool{true, false} {
		t.Run(fmt.Sprintf("run=%v", viaRun), func(t *testing.T) {
			clk := newClock()
			jobs := []ports.Job{{Order: testOrder(t), Attempt: 1}, {Order: testOrder(t), Attempt: 3}}
			ctx, stop := context.WithCancel(context.Background())
			ob := &mocks.OutboxMock{
				ClaimFunc: func(context.Context, ports.Claim) ([]ports.Job, error) {
					stop() // SIGTERM arrives while the claim commits
					return jobs, nil
				},
				ReleaseFunc: func(ctx context.Context, js []ports.Job, now time.Time) error { return ctx.Err() },
			}
			ex := &mocks.ExchangeMock{PlaceFunc: func(context.Context, domain.Order) error { return nil }}
			d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{Concurrency: 4})
			if viaRun {
				if err := d.Run(ctx); err != nil {
					t.Fatal(err)
				}
			} else if n, err := d.DispatchOnce(ctx); n != 0 || !errors.Is(err, context.Canceled) {
				t.Errorf("DispatchOnce = %d, %v; want 0, context.Canceled", n, err)
			}
			if n := len(ex.PlaceCalls()); n != 0 {
				t.Errorf("%d exchange calls after shutdown began; want 0", n)
			}
			rel := ob.ReleaseCalls()
			if len(rel) != 1 || len(rel[0].Jobs) != 2 || !rel[0].Now.Equal(t0) {
				t.Fatalf("Release calls = %+v; want one with both jobs at the clock's time", rel)
			}
		})
	}
}

// TestCancelJobsCallCancel runs a claimed cancel job: the exchange's Cancel
// is called, never Place, and each outcome is recorded as such.
func TestCancelJobsCallCancel(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		want        ports.Result
		wantOutcome string
	}{
		{"accepted", nil, ports.Done, ports.OutcomeAccepted},
		{"refused", fmt.Errorf("order already filled: %w", domain.ErrRejected), ports.Refused, ports.OutcomeRejected},
		{"transient", errors.New("connection not available"), ports.Retry, ports.OutcomeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			job := ports.Job{Kind: ports.JobCancel, Order: testOrder(t), Attempt: 1}
			ob := oneJobOutbox(job)
			ex := &mocks.ExchangeMock{CancelFunc: func(ctx context.Context, id domain.ID) error { return tt.err }}
			m := newMetricsMock()
			d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{Metrics: m})
			if n, err := d.DispatchOnce(context.Background()); n != 1 || err != nil {
				t.Fatalf("DispatchOnce = %d, %v", n, err)
			}
			if c := ex.CancelCalls(); len(c) != 1 || c[0].ID != job.Order.ID {
				t.Errorf("Cancel calls = %+v; want one for %s", c, job.Order.ID)
			}
			settles := ob.SettleCalls()
			if len(settles) != 1 || settles[0].O.Result != tt.want || settles[0].J.Kind != ports.JobCancel {
				t.Errorf("Settle calls = %+v; want one %s of the cancel job", settles, tt.want)
			}
			if c := m.CancelAttemptCalls(); len(c) != 1 || c[0].Outcome != tt.wantOutcome {
				t.Errorf("CancelAttempt calls = %+v; want one %s", c, tt.wantOutcome)
			}
			if n := len(m.PlacementAttemptCalls()) + len(m.OrderPlacedCalls()); n != 0 {
				t.Errorf("a cancel counted as a placement %d times", n)
			}
		})
	}
}

// TestRunShrinksClaimsWhileTheExchangeFails: on an exchange that fails
// every call the dispatcher's claims fall from Concurrency to the floor of
// 4, and grow back once calls succeed.
func TestRunShrinksClaimsWhileTheExchangeFails(t *testing.T) {
	clk := newClock()
	var orders []domain.Order
	for range 300 {
		orders = append(orders, testOrder(t))
	}
	ob := newLeaseOutbox(orders...)
	// Stopping mid-claim (when the test fails) hands jobs back.
	ob.ReleaseFunc = func(ctx context.Context, jobs []ports.Job, now time.Time) error { return nil }
	var failing atomic.Bool
	failing.Store(true)
	var calls atomic.Int32
	ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
		calls.Add(1)
		if failing.Load() {
			return errors.New("exchange down")
		}
		return nil
	}}
	// Retries are due at once (no backoff), so every slot keeps calling.
	d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{
		Concurrency: 64, PollInterval: time.Millisecond,
		Jitter: func(time.Duration) time.Duration { return 0 },
	})
	runDispatcher(t, d)
	waitFor(t, "500 failed calls", func() bool { return calls.Load() >= 500 })
	claimsFrom, callsFrom := len(ob.ClaimCalls()), calls.Load()
	waitFor(t, "300 more failed calls", func() bool { return calls.Load() >= callsFrom+300 })
	for _, c := range ob.ClaimCalls()[claimsFrom:] {
		if c.C.Limit > 4 {
			t.Fatalf("claim of %d after 500 failures; want at most 4 (the floor)", c.C.Limit)
		}
	}
	claimsBefore := len(ob.ClaimCalls())
	failing.Store(false)
	waitFor(t, "every order placed", func() bool { return len(settled(ob.SettleCalls(), ports.Done)) == len(orders) })
	grown := 0
	for _, c := range ob.ClaimCalls()[claimsBefore:] {
		grown = max(grown, c.C.Limit)
	}
	if grown <= 4 {
		t.Errorf("largest claim after the exchange recovered = %d; want more than the floor of 4", grown)
	}
}

// TestRunClaimsOneJobWhileTheGateIsHalfOpen: a half-open breaker lets one
// probe through, so the dispatcher claims one job at a time instead of a
// slot's worth that would fail at once and each be written back as a retry.
func TestRunClaimsOneJobWhileTheGateIsHalfOpen(t *testing.T) {
	clk := newClock()
	var orders []domain.Order
	for range 20 {
		orders = append(orders, testOrder(t))
	}
	ob := newLeaseOutbox(orders...)
	ob.ReleaseFunc = func(ctx context.Context, jobs []ports.Job, now time.Time) error { return nil }
	ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error { return nil }}
	gate := &mocks.GateMock{
		ReadyFunc: func() bool { return true },
		StateFunc: func() ports.GateState { return ports.GateHalfOpen },
	}
	d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{Concurrency: 8, PollInterval: time.Millisecond, Gate: gate})
	runDispatcher(t, d)
	waitFor(t, "every order placed", func() bool { return len(settled(ob.SettleCalls(), ports.Done)) == len(orders) })
	for _, c := range ob.ClaimCalls() {
		if c.C.Limit != 1 {
			t.Fatalf("claim of %d with the gate half-open; want 1", c.C.Limit)
		}
	}
}

// TestRunKeepsConcurrencyOnAHealthyStartUpBurst: on a healthy exchange
// whose failures (every tenth call) come back at once while successes wait,
// the dispatcher refills each failed slot and fills all of them with
// successes, burst after burst: its limit stays at Concurrency.
func TestRunKeepsConcurrencyOnAHealthyStartUpBurst(t *testing.T) {
	const concurrency, bursts = 64, 5
	clk := newClock()
	var orders []domain.Order
	for range concurrency * bursts * 2 {
		orders = append(orders, testOrder(t))
	}
	ob := newLeaseOutbox(orders...)
	ob.ReleaseFunc = func(ctx context.Context, jobs []ports.Job, now time.Time) error { return nil }
	var calls, waiting, released atomic.Int32
	var mu sync.Mutex
	release := make(chan struct{})
	ex := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
		if calls.Add(1)%10 == 0 {
			return errors.New("exchange hiccup")
		}
		mu.Lock()
		rel := release
		mu.Unlock()
		waiting.Add(1)
		defer waiting.Add(-1)
		select {
		case <-rel:
			released.Add(1)
			return nil
		case <-ctx.Done(): // the test failed and is stopping
			return ctx.Err()
		}
	}}
	d := newDispatcher(t, ob, ex, clk.mock(), app.DispatcherConfig{Concurrency: concurrency, PollInterval: time.Millisecond, ShutdownGrace: time.Millisecond})
	runDispatcher(t, d)
	for burst := range bursts {
		waitFor(t, fmt.Sprintf("burst %d: %d successes in flight", burst, concurrency), func() bool { return waiting.Load() == concurrency })
		mu.Lock()
		close(release)
		release = make(chan struct{})
		mu.Unlock()
		// Counted, not seen as a dip in waiting: the freed slots may be
		// taken again before a poll looks.
		waitFor(t, "the burst's successes back", func() bool { return released.Load() == int32((burst+1)*concurrency) })
	}
}
