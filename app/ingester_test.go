package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// fakeFeed is a venue's feed in memory: a log of reports, and per
// subscription a way to mangle what it delivers, as a faulty connection
// would.
type fakeFeed struct {
	session string
	mu      sync.Mutex
	log     []domain.Report
	added   chan struct{}
	subs    int
	// mangle turns the reports one subscription (numbered from 0) would
	// deliver into what it does deliver; disconnect, if above zero, ends
	// every subscription after that many deliveries.
	mangle     func(sub int, rs []domain.Report) []domain.Report
	disconnect int
	truncated  int64 // reports numbered below it are no longer kept
}

func newFakeFeed(n int) *fakeFeed {
	f := &fakeFeed{session: "s1", added: make(chan struct{})}
	f.add(n)
	return f
}

// add appends n reports, each an ack of its own order.
func (f *fakeFeed) add(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		seq := int64(len(f.log) + 1)
		f.log = append(f.log, domain.Report{Seq: seq, ExecID: fmt.Sprintf("%s-%d", f.session, seq), OrderID: domain.NewID(t0), Kind: domain.ReportAck, At: t0})
	}
	close(f.added)
	f.added = make(chan struct{})
}

func (f *fakeFeed) Subscribe(ctx context.Context, session string, from int64) (ports.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if session != f.session {
		from = 1
	}
	if from < f.truncated {
		return nil, fmt.Errorf("from %d: %w", from, domain.ErrFeedTruncated)
	}
	s := &fakeSub{f: f, n: f.subs, next: from}
	f.subs++
	return s, nil
}

type fakeSub struct {
	f         *fakeFeed
	n         int
	next      int64
	pending   []domain.Report
	delivered int
	closed    atomic.Bool
}

func (s *fakeSub) Session() string { return s.f.session }

func (s *fakeSub) Next(ctx context.Context) (domain.Report, error) {
	for {
		if s.closed.Load() {
			return domain.Report{}, errors.New("closed")
		}
		if s.f.disconnect > 0 && s.delivered == s.f.disconnect {
			return domain.Report{}, errors.New("disconnected")
		}
		if len(s.pending) > 0 {
			r := s.pending[0]
			s.pending = s.pending[1:]
			s.delivered++
			return r, nil
		}
		s.f.mu.Lock()
		rs := slices.Clone(s.f.log[min(s.next-1, int64(len(s.f.log))):])
		added := s.f.added
		s.f.mu.Unlock()
		if len(rs) == 0 {
			select {
			case <-added:
				continue
			case <-ctx.Done():
				return domain.Report{}, ctx.Err()
			}
		}
		s.next += int64(len(rs))
		if s.f.mangle != nil {
			rs = s.f.mangle(s.n, rs)
		}
		s.pending = rs
	}
}

func (s *fakeSub) Close() error { s.closed.Store(true); return nil }

// fakeExecs applies batches in memory with the store's fence. session and
// pos are the session applied last and its position; others holds the
// positions of earlier sessions.
type fakeExecs struct {
	mu      sync.Mutex
	session string
	pos     int64
	others  map[string]int64
	applied []int64 // every sequence number of session applied, in order
	slow    chan struct{}
	batches int
}

func (e *fakeExecs) FeedPosition(_ context.Context, session string) (string, int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if session != "" && session != e.session {
		return session, e.others[session], nil
	}
	return e.session, e.pos, nil
}

func (e *fakeExecs) ApplyReports(ctx context.Context, b ports.Batch) (ports.Applied, error) {
	if e.slow != nil {
		select {
		case <-e.slow:
		case <-ctx.Done():
			return ports.Applied{}, ctx.Err()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if b.Session != e.session {
		if b.After != e.others[b.Session] {
			return ports.Applied{}, fmt.Errorf("position %d, batch after %d: %w", e.others[b.Session], b.After, domain.ErrLeaseLost)
		}
		if e.others == nil {
			e.others = map[string]int64{}
		}
		e.others[e.session] = e.pos
		e.session, e.pos = b.Session, b.After
		delete(e.others, b.Session)
	}
	if b.After != e.pos {
		return ports.Applied{}, fmt.Errorf("position %d, batch after %d: %w", e.pos, b.After, domain.ErrLeaseLost)
	}
	for i, r := range b.Reports {
		if r.Seq != b.After+int64(i)+1 {
			return ports.Applied{}, fmt.Errorf("batch out of sequence: %d at %d", r.Seq, i)
		}
		e.applied = append(e.applied, r.Seq)
	}
	e.session, e.pos = b.Session, b.Reports[len(b.Reports)-1].Seq
	e.batches++
	return ports.Applied{Kinds: map[domain.ReportKind]int{domain.ReportAck: len(b.Reports)}}, nil
}

func (e *fakeExecs) position() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pos
}

// fakeLeases is the database's lease table in memory, on the real clock.
type fakeLeases struct {
	mu      sync.Mutex
	owner   string
	expires time.Time
}

func (l *fakeLeases) AcquireLease(_ context.Context, _, owner string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owner != owner && time.Now().Before(l.expires) {
		return false, nil
	}
	l.owner, l.expires = owner, time.Now().Add(ttl)
	return true, nil
}

func (l *fakeLeases) ReleaseLease(_ context.Context, _, owner string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owner == owner {
		l.owner = ""
	}
	return nil
}

type feedCounts struct {
	mu     sync.Mutex
	events map[ports.FeedEvent]int
}

func (c *feedCounts) ReportReceived(domain.ReportKind)                   {}
func (c *feedCounts) BatchApplied(ports.Batch, ports.Applied, time.Time) {}
func (c *feedCounts) Event(e ports.FeedEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events[e]++
}

func (c *feedCounts) get(e ports.FeedEvent) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events[e]
}

func newIngester(t *testing.T, feed ports.Feed, execs ports.Executions, leases ports.Leases, cfg app.IngesterConfig) *app.Ingester {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 300 * time.Millisecond
	}
	cfg.GapWait, cfg.RetryBase, cfg.RetryMax = 5*time.Millisecond, time.Millisecond, 10*time.Millisecond
	in, err := app.NewIngester(feed, execs, leases, app.SystemClock{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// runIngester runs in until the test ends, or until the returned stop.
func runIngester(t *testing.T, in *app.Ingester) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = in.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// checkAppliedOnce checks execs applied 1..n, each once, in order.
func checkAppliedOnce(t *testing.T, e *fakeExecs, n int) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.applied) != n {
		t.Fatalf("applied %d reports; want %d", len(e.applied), n)
	}
	for i, seq := range e.applied {
		if seq != int64(i+1) {
			t.Fatalf("report %d applied at position %d: want each once, in sequence order", seq, i)
		}
	}
}

func TestIngesterAppliesEveryReportOnceWhateverTheConnectionDoes(t *testing.T) {
	const n = 3000
	rng := rand.New(rand.NewPCG(1, 2))
	feed := newFakeFeed(n)
	feed.disconnect = 300
	var mu sync.Mutex
	feed.mangle = func(sub int, rs []domain.Report) []domain.Report {
		mu.Lock()
		defer mu.Unlock()
		var out []domain.Report
		for _, r := range rs {
			switch x := rng.Float64(); {
			case x < 0.02: // dropped: the gap shows
			case x < 0.07:
				out = append(out, r, r) // duplicated
			default:
				out = append(out, r)
			}
		}
		// Reordered within windows of 8.
		for i := 0; i < len(out); i += 8 {
			w := out[i:min(i+8, len(out))]
			rng.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
		}
		return out
	}
	execs := &fakeExecs{}
	counts := &feedCounts{events: map[ports.FeedEvent]int{}}
	runIngester(t, newIngester(t, feed, execs, &fakeLeases{}, app.IngesterConfig{BatchSize: 64, Metrics: counts}))
	waitFor(t, "every report applied", func() bool { return execs.position() == n })
	checkAppliedOnce(t, execs, n)
	if counts.get(ports.FeedGap) == 0 || counts.get(ports.FeedReplay) == 0 || counts.get(ports.FeedReconnect) == 0 {
		t.Errorf("events %v; want gaps, replays and reconnects counted", counts.events)
	}
	t.Logf("%d reports applied once each in %d batches over %d subscriptions; events %v", n, execs.batches, feed.subs, counts.events)
}

func TestIngesterResumesAfterTheLastAppliedReport(t *testing.T) {
	feed := newFakeFeed(100)
	execs := &fakeExecs{}
	stop := runIngester(t, newIngester(t, feed, execs, &fakeLeases{}, app.IngesterConfig{}))
	waitFor(t, "the first 100 applied", func() bool { return execs.position() == 100 })
	stop()
	feed.add(50)
	runIngester(t, newIngester(t, feed, execs, &fakeLeases{}, app.IngesterConfig{}))
	waitFor(t, "the next 50 applied", func() bool { return execs.position() == 150 })
	checkAppliedOnce(t, execs, 150)
}

func TestIngesterStandbyTakesOverWithoutApplyingTwice(t *testing.T) {
	feed := newFakeFeed(200)
	execs := &fakeExecs{}
	leases := &fakeLeases{}
	stopA := runIngester(t, newIngester(t, feed, execs, leases, app.IngesterConfig{Owner: "a"}))
	waitFor(t, "a applies the backlog", func() bool { return execs.position() == 200 })
	runIngester(t, newIngester(t, feed, execs, leases, app.IngesterConfig{Owner: "b"}))
	feed.add(100)
	waitFor(t, "a applies more", func() bool { return execs.position() == 300 })
	stopA() // the active one stops (its lease is released)
	feed.add(100)
	waitFor(t, "b takes over", func() bool { return execs.position() == 400 })
	checkAppliedOnce(t, execs, 400)
	leases.mu.Lock()
	defer leases.mu.Unlock()
	if leases.owner != "b" {
		t.Errorf("lease held by %q; want b", leases.owner)
	}
}

func TestIngesterNeverSkipsReportsTheVenueNoLongerKeeps(t *testing.T) {
	feed := newFakeFeed(100)
	feed.truncated = 50
	execs := &fakeExecs{session: "s1", pos: 10}
	runIngester(t, newIngester(t, feed, execs, &fakeLeases{}, app.IngesterConfig{}))
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if p := execs.position(); p != 10 {
			t.Fatalf("position %d; want 10: reports 11 to 49 are lost at the venue and must not be skipped", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIngesterBoundsWhatItReadsAheadOfTheDatabase(t *testing.T) {
	const n = 20000
	feed := newFakeFeed(n)
	var reads atomic.Int64
	feed.mangle = func(_ int, rs []domain.Report) []domain.Report { return rs }
	counting := &countingFeed{fakeFeed: feed, reads: &reads}
	execs := &fakeExecs{slow: make(chan struct{})}
	cfg := app.IngesterConfig{BatchSize: 100, QueueSize: 500}
	runIngester(t, newIngester(t, counting, execs, &fakeLeases{}, cfg))
	// The database takes one batch at a time, on request.
	for range 5 {
		execs.slow <- struct{}{}
	}
	waitFor(t, "reading to stall", func() bool {
		r := reads.Load()
		time.Sleep(20 * time.Millisecond)
		return reads.Load() == r
	})
	ahead := reads.Load() - execs.position()
	if limit := int64(cfg.QueueSize + 2*cfg.BatchSize + 2); ahead > limit {
		t.Errorf("read %d reports ahead of the database; want at most %d (queue, batch, and one in hand)", ahead, limit)
	}
	close(execs.slow)
	waitFor(t, "the rest applied", func() bool { return execs.position() == n })
}

// countingFeed counts the reports its subscriptions hand out.
type countingFeed struct {
	*fakeFeed
	reads *atomic.Int64
}

func (c *countingFeed) Subscribe(ctx context.Context, session string, from int64) (ports.Subscription, error) {
	s, err := c.fakeFeed.Subscribe(ctx, session, from)
	if err != nil {
		return nil, err
	}
	return &countingSub{Subscription: s, reads: c.reads}, nil
}

type countingSub struct {
	ports.Subscription
	reads *atomic.Int64
}

func (c *countingSub) Next(ctx context.Context) (domain.Report, error) {
	r, err := c.Subscription.Next(ctx)
	if err == nil {
		c.reads.Add(1)
	}
	return r, err
}

func TestIngesterFollowsTheVenuesSession(t *testing.T) {
	// The session applied last is another venue's; this venue's own
	// session s1 was applied up to 10 before.
	feed := newFakeFeed(30)
	execs := &fakeExecs{session: "other", pos: 500, others: map[string]int64{"s1": 10}}
	execs.applied = nil
	runIngester(t, newIngester(t, feed, execs, &fakeLeases{}, app.IngesterConfig{}))
	waitFor(t, "s1 applied to its end", func() bool {
		execs.mu.Lock()
		defer execs.mu.Unlock()
		return execs.session == "s1" && execs.pos == 30
	})
	execs.mu.Lock()
	defer execs.mu.Unlock()
	if len(execs.applied) != 20 || execs.applied[0] != 11 {
		t.Errorf("applied %d reports starting at %v; want 11 to 30, each once", len(execs.applied), execs.applied[:min(1, len(execs.applied))])
	}
	if execs.others["other"] != 500 {
		t.Errorf("the other session's position moved to %d", execs.others["other"])
	}
}
