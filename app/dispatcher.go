package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// DispatcherConfig tunes a Dispatcher. Zero fields take the defaults below.
type DispatcherConfig struct {
	// Concurrency is the most exchange calls in flight at once (default
	// 256: at 0.5 s a call that is about 512 placements a second). While
	// most calls fail the dispatcher halves its limit, down to 4, and grows
	// it back by one per answered call (AIMD; see aimd), so a failing
	// exchange is not fed a retry write per slot.
	Concurrency int
	// Lease is how long a claimed job stays reserved for this dispatcher
	// (default 30 s). A crashed dispatcher's jobs are taken over once it
	// runs out, so it bounds recovery time; it must exceed CallTimeout.
	Lease time.Duration
	// CallTimeout bounds one exchange call (default 10 s).
	CallTimeout time.Duration
	// PollInterval is how often to look for due jobs when nothing wakes the
	// dispatcher (default 250 ms). Retries and jobs committed by other
	// processes are found this way.
	PollInterval time.Duration
	// RetryBase and RetryMax shape the backoff after a transient failure:
	// attempt n waits a uniformly random time in [0, min(RetryMax,
	// RetryBase·2^(n-1))] ("full jitter"). Defaults: 250 ms and 30 s.
	RetryBase time.Duration
	RetryMax  time.Duration
	// ShutdownGrace is how long in-flight exchange calls may run on after
	// Run's context is cancelled before they are cancelled too (default 10 s).
	ShutdownGrace time.Duration
	// Owner names this dispatcher in the jobs it leases (default
	// host:pid:random).
	Owner string
	// Jitter returns a random duration in [0, max]. Nil means uniform
	// random; tests pass a deterministic function.
	Jitter func(max time.Duration) time.Duration
	// Logger receives the dispatcher's logs (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives each attempt's outcome and each order's time from
	// commit to placement (default: discarded).
	Metrics ports.Metrics
	// Gate, if set, holds the dispatcher off while it is not ready: the
	// exchange's circuit breaker. While it is half-open the dispatcher
	// makes one call at a time, the probe.
	Gate ports.Gate
}

// Defaults of DispatcherConfig.
const (
	DefaultConcurrency   = 256
	DefaultLease         = 30 * time.Second
	DefaultCallTimeout   = 10 * time.Second
	DefaultPollInterval  = 250 * time.Millisecond
	DefaultRetryBase     = 250 * time.Millisecond
	DefaultRetryMax      = 30 * time.Second
	DefaultShutdownGrace = 10 * time.Second
)

// settleTimeout bounds the database write that records a call's outcome. It
// runs on its own context so that a shutdown never discards the outcome of a
// call that already reached the exchange.
const settleTimeout = 10 * time.Second

// Dispatcher places every pending order at the exchange. It claims due jobs
// from the outbox, calls the exchange with bounded concurrency and settles
// each job: placed on success, retried with capped exponential backoff on a
// transient failure (forever), rejected on a permanent one. Several
// dispatchers, in one process or many, may share one outbox.
type Dispatcher struct {
	outbox   ports.Outbox
	exchange ports.Exchange
	clock    ports.Clock
	cfg      DispatcherConfig
	log      *slog.Logger

	loop  *leaseLoop[ports.Job]
	limit *aimd // calls in flight, shrunk while the exchange fails
}

// NewDispatcher returns a Dispatcher over outbox and exchange, or an error
// naming the first invalid setting of cfg.
func NewDispatcher(outbox ports.Outbox, exchange ports.Exchange, clock ports.Clock, cfg DispatcherConfig) (*Dispatcher, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	def(&cfg.Lease, DefaultLease)
	def(&cfg.CallTimeout, DefaultCallTimeout)
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.RetryBase, DefaultRetryBase)
	def(&cfg.RetryMax, DefaultRetryMax)
	def(&cfg.ShutdownGrace, DefaultShutdownGrace)
	switch {
	case cfg.Concurrency < 1:
		return nil, fmt.Errorf("dispatcher: concurrency must be at least 1, got %d", cfg.Concurrency)
	case cfg.CallTimeout < 0 || cfg.PollInterval < 0 || cfg.RetryBase < 0 || cfg.RetryMax < 0 || cfg.ShutdownGrace < 0:
		return nil, errors.New("dispatcher: durations must not be negative")
	case cfg.RetryMax < cfg.RetryBase:
		return nil, fmt.Errorf("dispatcher: retry max %s is below retry base %s", cfg.RetryMax, cfg.RetryBase)
	case cfg.Lease <= cfg.CallTimeout:
		// A lease that ran out during a call would let a second dispatcher
		// place the same job while the first still waits for its answer.
		return nil, fmt.Errorf("dispatcher: lease %s must exceed call timeout %s", cfg.Lease, cfg.CallTimeout)
	}
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if cfg.Jitter == nil {
		cfg.Jitter = uniformJitter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	d := &Dispatcher{
		outbox:   outbox,
		exchange: exchange,
		clock:    clock,
		cfg:      cfg,
		log:      cfg.Logger.With("component", "dispatcher", "owner", cfg.Owner),
	}
	d.loop = newLeaseLoop[ports.Job]("placement jobs", cfg.Concurrency, cfg.PollInterval, cfg.ShutdownGrace, d.log)
	if cfg.Gate != nil {
		d.loop.ready = cfg.Gate.Ready
	}
	d.loop.claim = d.claim
	d.loop.release = d.release
	d.limit = newAIMD(cfg.Concurrency)
	d.loop.limit = d.limit.Limit
	if g := cfg.Gate; g != nil {
		d.loop.limit = func() int {
			// A half-open breaker lets one probe through and fails the
			// rest at once: claim only the probe, not a retry write per
			// slot.
			if g.State() == ports.GateHalfOpen {
				return 1
			}
			return d.limit.Limit()
		}
	}
	d.loop.run = func(calls context.Context, j ports.Job) func() {
		seq := d.limit.Start()
		took, err := d.place(calls, j)
		answered := err == nil || errors.Is(err, domain.ErrRejected)
		d.limit.Done(seq, !answered && calls.Err() == nil, answered)
		return func() { d.settle(calls, j, err, took) }
	}
	return d, nil
}

// Wake tells the dispatcher that a job may be due now, so it claims at once
// instead of at the next poll. It never blocks.
func (d *Dispatcher) Wake() { signal(d.loop.wake) }

// Run dispatches until ctx is cancelled, then stops claiming, gives
// in-flight exchange calls up to ShutdownGrace to finish, cancels the rest,
// records every outcome and returns. Interrupted jobs become due at once, so
// another dispatcher takes them over without waiting for their lease.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.Info("dispatcher started", "concurrency", d.cfg.Concurrency, "lease", d.cfg.Lease)
	d.loop.Run(ctx)
	return nil
}

// DispatchOnce claims up to Concurrency due jobs, places them all, records
// the outcomes and returns how many jobs it handled. It suits tests and
// callers that drive placement from their own scheduler.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (int, error) {
	jobs, err := d.claim(ctx, d.cfg.Concurrency)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		d.release(ctx, jobs)
		return 0, err
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.process(ctx, j)
		}()
	}
	wg.Wait()
	return len(jobs), nil
}

func (d *Dispatcher) claim(ctx context.Context, n int) ([]ports.Job, error) {
	jobs, err := d.outbox.Claim(ctx, ports.Claim{
		Owner: d.cfg.Owner,
		Now:   d.clock.Now(),
		Lease: d.cfg.Lease,
		Limit: n,
	})
	if err != nil {
		return nil, fmt.Errorf("dispatcher: claim: %w", err)
	}
	return jobs, nil
}

// release hands claimed jobs back unstarted, so that another dispatcher
// takes them at once instead of after their lease. It runs after ctx (the
// dispatcher's) has ended, on a context of its own.
func (d *Dispatcher) release(ctx context.Context, jobs []ports.Job) {
	if len(jobs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := d.outbox.Release(ctx, jobs, d.clock.Now()); err != nil {
		d.log.Error("release unstarted placement jobs; they wait out their lease", "jobs", len(jobs), "err", err)
		return
	}
	d.log.Info("released unstarted placement jobs", "jobs", len(jobs))
}

// process places one claimed job and records the outcome. calls is the
// context exchange calls run under; its cancellation means shutdown.
func (d *Dispatcher) process(calls context.Context, j ports.Job) {
	took, err := d.place(calls, j)
	d.settle(calls, j, err, took)
}

// place makes j's exchange call (place or cancel), bounded by the call
// timeout. It returns how long the call took and its error.
func (d *Dispatcher) place(calls context.Context, j ports.Job) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(calls, d.cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	var err error
	if j.Kind == ports.JobCancel {
		err = d.exchange.Cancel(ctx, j.Order.ID)
	} else {
		err = d.exchange.Place(ctx, j.Order)
	}
	return time.Since(start), err
}

// settle records the outcome of j's exchange call (err, after took).
func (d *Dispatcher) settle(calls context.Context, j ports.Job, err error, took time.Duration) {
	settle, cancelSettle := context.WithTimeout(context.WithoutCancel(calls), settleTimeout)
	defer cancelSettle()
	now := d.clock.Now()
	log := d.log.With("order_id", j.Order.ID.String(), "job", string(j.Kind), "attempt", j.Attempt)
	o := ports.Outcome{At: now}
	var outcome string
	switch {
	case err == nil:
		o.Result, outcome = ports.Done, ports.OutcomePlaced
		if j.Kind == ports.JobCancel {
			outcome = ports.OutcomeAccepted
		}
	case errors.Is(err, domain.ErrRejected):
		o.Result, o.Cause, outcome = ports.Refused, err.Error(), ports.OutcomeRejected
	case calls.Err() != nil:
		// Shutdown cut the call short: hand the job back at once.
		o.Result, o.Due, o.Cause, outcome = ports.Retry, now, "call interrupted by shutdown", ports.OutcomeInterrupted
	default:
		o.Result, o.Due, o.Cause, outcome = ports.Retry, now.Add(d.Backoff(j.Attempt)), err.Error(), ports.OutcomeFailed
	}
	if j.Kind == ports.JobCancel {
		d.cfg.Metrics.CancelAttempt(outcome, took)
	} else {
		d.cfg.Metrics.PlacementAttempt(outcome, took)
	}
	settleErr := d.outbox.Settle(settle, j, o)
	switch {
	case settleErr == nil:
		d.logOutcome(log, j, o, outcome)
	case errors.Is(settleErr, domain.ErrLeaseLost):
		log.Warn("lease lost before the outcome was recorded; the new holder settles the job", "call_err", err)
	default:
		// The job stays leased; once the lease runs out it is claimed and
		// called again, which the exchange deduplicates by order ID.
		log.Error("record the exchange call's outcome", "err", settleErr, "call_err", err)
	}
}

// logOutcome logs a recorded outcome: state changes at info, retries at
// debug.
func (d *Dispatcher) logOutcome(log *slog.Logger, j ports.Job, o ports.Outcome, outcome string) {
	cancel := j.Kind == ports.JobCancel
	switch {
	case !cancel && o.Result == ports.Done:
		d.cfg.Metrics.OrderPlaced(o.At.Sub(j.Order.CreatedAt))
		log.Info("order placed", "status", domain.Placed)
	case !cancel && o.Result == ports.Refused:
		log.Info("order rejected by the exchange", "status", domain.Rejected, "reason", o.Cause)
	case cancel && o.Result == ports.Done:
		log.Info("cancel request accepted by the exchange")
	case cancel && o.Result == ports.Refused:
		log.Info("cancel request refused by the exchange", "reason", o.Cause)
	case outcome == ports.OutcomeInterrupted:
		log.Info("exchange call interrupted by shutdown; job released")
	default:
		log.Debug("exchange call failed; will retry", "err", o.Cause, "due", o.Due)
	}
}

// Backoff returns how long to wait before retrying after failed attempt n
// (1-based): a random duration in [0, min(RetryMax, RetryBase·2^(n-1))].
func (d *Dispatcher) Backoff(n int) time.Duration {
	return d.cfg.Jitter(backoffCeiling(d.cfg.RetryBase, d.cfg.RetryMax, n-1))
}
