package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// IngesterConfig tunes an Ingester. Zero fields take the defaults below.
type IngesterConfig struct {
	// Venue names the exchange whose feed is read: one ingester is active
	// per venue across every instance sharing the database (default
	// "sim").
	Venue string
	// Owner names this ingester in its lease (default host:pid:random).
	Owner string
	// LeaseTTL is how long the active ingester's lease lasts unless
	// renewed; it renews every third of it. A standby takes over within
	// about LeaseTTL of the active one's death (default 3 s).
	LeaseTTL time.Duration
	// BatchSize bounds a batch, which is one transaction (default 512). A
	// batch closes when it is full or when the commit before it ends,
	// whichever comes first: the reports that arrive during one commit
	// make the next batch.
	BatchSize int
	// QueueSize bounds the reports read from the feed but not yet
	// batched: when the database is slower than the feed, reading stops
	// there (default 4096).
	QueueSize int
	// GapWait is how long a missing sequence number may stay missing,
	// while later reports arrive, before the feed is replayed from it
	// (default 50 ms); ReorderLimit bounds the reports held meanwhile
	// (default 1024): past it the feed is replayed at once.
	GapWait      time.Duration
	ReorderLimit int
	// RetryBase and RetryMax shape the backoff between attempts to
	// subscribe or to apply a batch after a failure (defaults 50 ms, 5 s).
	RetryBase, RetryMax time.Duration
	// Logger receives the ingester's logs (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives reports received and applied, gaps, replays,
	// reconnects and the feed's lag (default: discarded).
	Metrics ports.FeedMetrics
}

// Defaults of IngesterConfig.
const (
	DefaultLeaseTTL     = 3 * time.Second
	DefaultBatchSize    = 512
	DefaultQueueSize    = 4096
	DefaultGapWait      = 50 * time.Millisecond
	DefaultReorderLimit = 1024
)

// Ingester follows every order's life at the exchange: it reads the
// exchange's execution-report feed and applies the reports to the orders,
// in sequence order, in batches, each batch one transaction that also
// records how far the feed has been applied. A restart, a crash or a
// reconnect resumes after the last applied report; a duplicate is dropped
// by its sequence number (and by its execution ID in the store); a gap
// makes it replay the feed from the missing report, never skip it. One
// ingester per venue is active across instances, by a lease in the
// database; the others stand by.
type Ingester struct {
	feed   ports.Feed
	execs  ports.Executions
	leases ports.Leases
	clock  ports.Clock
	cfg    IngesterConfig
	log    *slog.Logger
}

// NewIngester returns an Ingester of feed into execs, elected by leases.
func NewIngester(feed ports.Feed, execs ports.Executions, leases ports.Leases, clock ports.Clock, cfg IngesterConfig) (*Ingester, error) {
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if cfg.Venue == "" {
		cfg.Venue = "sim"
	}
	defDur(&cfg.LeaseTTL, DefaultLeaseTTL)
	defInt(&cfg.BatchSize, DefaultBatchSize)
	defInt(&cfg.QueueSize, DefaultQueueSize)
	defDur(&cfg.GapWait, DefaultGapWait)
	defInt(&cfg.ReorderLimit, DefaultReorderLimit)
	defDur(&cfg.RetryBase, 50*time.Millisecond)
	defDur(&cfg.RetryMax, 5*time.Second)
	switch {
	case cfg.BatchSize < 1 || cfg.QueueSize < 1 || cfg.ReorderLimit < 1:
		return nil, errors.New("ingester: batch size, queue size and reorder limit must be at least 1")
	case cfg.LeaseTTL < 0 || cfg.GapWait < 0 || cfg.RetryBase < 0 || cfg.RetryMax < cfg.RetryBase:
		return nil, errors.New("ingester: durations must not be negative, and retry max not below retry base")
	}
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopFeedMetrics{}
	}
	return &Ingester{
		feed: feed, execs: execs, leases: leases, clock: clock, cfg: cfg,
		log: cfg.Logger.With("component", "ingester", "venue", cfg.Venue, "owner", cfg.Owner),
	}, nil
}

// nopFeedMetrics discards measurements.
type nopFeedMetrics struct{}

func (nopFeedMetrics) ReportReceived(domain.ReportKind)                   {}
func (nopFeedMetrics) BatchApplied(ports.Batch, ports.Applied, time.Time) {}
func (nopFeedMetrics) Event(ports.FeedEvent)                              {}

// leaseName is the lease the active ingester of a venue holds.
func (in *Ingester) leaseName() string { return "ingester:" + in.cfg.Venue }

// Run ingests until ctx is cancelled: it waits to become the active
// ingester, follows the feed while it holds the lease, and stands by again
// if it loses it.
func (in *Ingester) Run(ctx context.Context) error {
	in.log.Info("ingester started", "lease_ttl", in.cfg.LeaseTTL)
	poll := in.cfg.LeaseTTL / 3
	for ctx.Err() == nil {
		ok, err := in.leases.AcquireLease(ctx, in.leaseName(), in.cfg.Owner, in.cfg.LeaseTTL)
		switch {
		case err != nil && ctx.Err() == nil:
			in.log.Error("acquire the ingester lease", "err", err)
		case ok:
			in.lead(ctx)
			continue
		}
		sleep(ctx, poll)
	}
	in.log.Info("ingester stopped")
	return nil
}

// lead follows the feed while this ingester holds the lease, renewing it,
// and releases it when ctx ends.
func (in *Ingester) lead(ctx context.Context) {
	in.log.Info("active ingester: following the feed")
	leading, stop := context.WithCancel(ctx)
	defer stop()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		defer stop()
		// A lease not renewed for its whole TTL may be another's by now.
		lastHeld := time.Now()
		for {
			sleep(leading, in.cfg.LeaseTTL/3)
			if leading.Err() != nil {
				return
			}
			ok, err := in.leases.AcquireLease(leading, in.leaseName(), in.cfg.Owner, in.cfg.LeaseTTL)
			switch {
			case err == nil && ok:
				lastHeld = time.Now()
			case err == nil:
				in.log.Warn("ingester lease taken over; standing by")
				return
			case time.Since(lastHeld) > in.cfg.LeaseTTL:
				in.log.Error("ingester lease not renewed in time; standing by", "err", err)
				return
			}
		}
	}()
	in.follow(leading)
	stop()
	<-renewed
	if ctx.Err() != nil {
		release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := in.leases.ReleaseLease(release, in.leaseName(), in.cfg.Owner); err != nil {
			in.log.Warn("release the ingester lease; a standby takes over when it expires", "err", err)
		}
	}
}

// follow reads and applies the feed until ctx ends, subscribing again
// after every disconnect, gap and failed batch.
func (in *Ingester) follow(ctx context.Context) {
	failures := 0
	session := "" // until the first subscription: the one applied last
	for ctx.Err() == nil {
		s, last, err := in.execs.FeedPosition(ctx, session)
		if err == nil {
			session, err = in.stream(ctx, s, last)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			failures = 0
			continue
		case errors.Is(err, domain.ErrFeedTruncated):
			// Never skip: an operator must find the missing reports.
			in.log.Error("the exchange no longer keeps the reports to apply next; ingestion stalls rather than skip them", "session", session, "after", last, "err", err)
		default:
			in.log.Warn("feed interrupted; subscribing again from the last applied report", "err", err)
		}
		failures++
		sleep(ctx, in.backoff(failures))
	}
}

// stream subscribes after last (a report of session) and applies what
// arrives until the subscription ends. It returns the venue's session, and
// a nil error when the subscription ended for a replay or a reconnect that
// should follow at once.
func (in *Ingester) stream(ctx context.Context, session string, last int64) (string, error) {
	sub, err := in.feed.Subscribe(ctx, session, last+1)
	if err != nil {
		return session, fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Close()
	if sub.Session() != session {
		// Another venue session: the feed starts at its first report,
		// which may have been applied already (by this ingester before a
		// restart, or another instance).
		_, done, err := in.execs.FeedPosition(ctx, sub.Session())
		if err != nil {
			return session, err
		}
		in.log.Info("venue session", "session", sub.Session(), "previous", session, "applied", done)
		if done > 0 {
			return sub.Session(), nil // subscribe again, after what is applied
		}
		session, last = sub.Session(), 0
	}
	return session, in.apply(ctx, sub, session, last)
}

// apply reads sub, whose next report follows last, and applies what
// arrives until the subscription ends.
func (in *Ingester) apply(ctx context.Context, sub ports.Subscription, session string, last int64) error {
	reading, stopReading := context.WithCancel(ctx)
	defer stopReading()
	queue := make(chan domain.Report, in.cfg.QueueSize)
	ended := make(chan error, 1)
	go func() {
		for {
			r, err := sub.Next(reading)
			if err != nil {
				ended <- err
				return
			}
			select {
			case queue <- r:
			case <-reading.Done():
				ended <- reading.Err()
				return
			}
		}
	}()

	s := sequencer{next: last + 1, held: map[int64]domain.Report{}}
	// One batch commits while the next gathers: when the commit ends the
	// next one starts at once with whatever arrived meanwhile (natural
	// batching), so batches are large when the feed is fast and a report
	// waits for nothing when it is not. One commit at a time keeps the
	// batches in sequence.
	batch := make([]domain.Report, 0, in.cfg.BatchSize)
	committing := 0 // reports in the commit under way
	done := make(chan error, 1)
	commit := func() {
		if committing > 0 || len(batch) == 0 {
			return
		}
		b := ports.Batch{Session: session, After: last, Reports: batch, At: in.clock.Now()}
		committing, batch = len(batch), make([]domain.Report, 0, in.cfg.BatchSize)
		go func() {
			began := time.Now()
			applied, err := in.execs.ApplyReports(ctx, b)
			if err != nil {
				done <- fmt.Errorf("apply reports %d to %d: %w", b.After+1, b.After+int64(len(b.Reports)), err)
				return
			}
			in.cfg.Metrics.BatchApplied(b, applied, in.clock.Now())
			in.log.Debug("batch applied", "reports", len(b.Reports), "took", time.Since(began), "last", b.After+int64(len(b.Reports)))
			if applied.Unknown > 0 {
				in.log.Warn("reports about unknown orders kept aside", "count", applied.Unknown, "session", session)
			}
			done <- nil
		}()
	}
	// settled records the end of the commit under way.
	settled := func(err error) error {
		if err == nil {
			last += int64(committing)
		}
		committing = 0
		return err
	}
	// finish commits everything gathered, in order, and waits for it.
	finish := func() error {
		for committing > 0 || len(batch) > 0 {
			commit()
			if err := settled(<-done); err != nil {
				return err
			}
		}
		return nil
	}
	var gapTimer <-chan time.Time
	for {
		take := queue
		if len(batch) >= in.cfg.BatchSize {
			take = nil // full: wait for the commit under way
		}
		select {
		case r := <-take:
			in.cfg.Metrics.ReportReceived(r.Kind)
			batch = append(batch, s.accept(r)...)
			if len(s.held) > in.cfg.ReorderLimit {
				return in.replay(finish, s.next)
			}
			if len(s.held) == 0 {
				gapTimer = nil
			} else if gapTimer == nil {
				gapTimer = time.After(in.cfg.GapWait)
			}
		case err := <-done:
			if err := settled(err); err != nil {
				return err
			}
		case <-gapTimer:
			return in.replay(finish, s.next)
		case err := <-ended:
			// Take what was read before the connection ended.
			for len(queue) > 0 {
				r := <-queue
				in.cfg.Metrics.ReportReceived(r.Kind)
				batch = append(batch, s.accept(r)...)
			}
			if ferr := finish(); ferr != nil {
				return ferr
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			in.cfg.Metrics.Event(ports.FeedReconnect)
			in.log.Info("feed connection ended; reconnecting", "after", last, "err", err)
			return nil
		case <-ctx.Done():
			if committing > 0 {
				_ = settled(<-done) // the store finishes a commit it started
			}
			return ctx.Err()
		}
		commit()
	}
}

// replay applies what is in order and ends the subscription, so that the
// next one starts at the missing report.
func (in *Ingester) replay(finish func() error, missing int64) error {
	in.cfg.Metrics.Event(ports.FeedGap)
	if err := finish(); err != nil {
		return err
	}
	in.cfg.Metrics.Event(ports.FeedReplay)
	in.log.Info("gap in the feed; replaying", "from", missing)
	return nil
}

// sequencer puts a feed's reports back in sequence order: it passes on
// the next expected report and any held ones that follow it, drops
// repeats, and holds reports that come early.
type sequencer struct {
	next int64
	held map[int64]domain.Report
}

// accept takes r and returns the reports now in order.
func (s *sequencer) accept(r domain.Report) []domain.Report {
	switch {
	case r.Seq < s.next:
		return nil // a repeat of a report passed on already
	case r.Seq > s.next:
		s.held[r.Seq] = r
		return nil
	}
	out := []domain.Report{r}
	s.next++
	for {
		h, ok := s.held[s.next]
		if !ok {
			return out
		}
		delete(s.held, s.next)
		out = append(out, h)
		s.next++
	}
}

// backoff is the wait before the n-th retry (1-based): full jitter, capped.
func (in *Ingester) backoff(n int) time.Duration {
	return uniformJitter(backoffCeiling(in.cfg.RetryBase, in.cfg.RetryMax, n-1))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
