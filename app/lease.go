package app

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"
)

// leaseLoop is the machine behind every outbox worker (order placement,
// webhook delivery): it claims due jobs with leases, runs each on a
// bounded pool, claims again as soon as slots free up or it is woken, and
// polls otherwise. On shutdown it stops claiming, hands back jobs claimed
// but not started, lets running ones finish within a grace period and then
// cancels them. What a job is and how it is claimed, run and settled is
// the caller's.
type leaseLoop[J any] struct {
	what        string // the jobs, in logs: "placement jobs"
	concurrency int
	poll        time.Duration
	grace       time.Duration
	log         *slog.Logger

	// ready, if set, holds claims off while it returns false.
	ready func() bool
	// limit, if set, bounds the jobs in flight below concurrency: the
	// dispatcher's AIMD limit, which shrinks while the exchange fails.
	limit func() int
	// claim leases up to n due jobs.
	claim func(ctx context.Context, n int) ([]J, error)
	// release hands back jobs claimed but never started; ctx has ended
	// already (it carries values only).
	release func(ctx context.Context, jobs []J)
	// run makes j's call under calls, whose cancellation means the grace
	// period is over, and returns the step that records its outcome: it
	// runs after j's slot is freed, so the next claim need not wait for a
	// database write.
	run func(calls context.Context, j J) (settle func())
	// claimAfterSettle makes each settled job wake the loop, for claims
	// that hold back due jobs while others are leased (webhook deliveries,
	// at most so many per endpoint): their next ones are due as soon as
	// these settle, not at the next poll.
	claimAfterSettle bool

	wake  chan struct{}
	freed chan struct{}
}

func newLeaseLoop[J any](what string, concurrency int, poll, grace time.Duration, log *slog.Logger) *leaseLoop[J] {
	return &leaseLoop[J]{
		what:        what,
		concurrency: concurrency,
		poll:        poll,
		grace:       grace,
		log:         log,
		wake:        make(chan struct{}, 1),
		freed:       make(chan struct{}, 1),
	}
}

// defaultOwner names this process in the leases it takes: host:pid:random.
func defaultOwner() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + strconv.FormatUint(rand.Uint64()&0xffffff, 16) //nolint:gosec // G404: a tag to tell owners apart, not a secret
}

// uniformJitter returns a uniformly random duration in [0, max].
func uniformJitter(max time.Duration) time.Duration { return rand.N(max + 1) } //nolint:gosec // G404: backoff jitter, not a secret

// backoffCeiling returns min(ceiling, base·2^shift) without overflowing.
func backoffCeiling(base, ceiling time.Duration, shift int) time.Duration {
	if shift < 0 {
		shift = 0
	}
	if shift < 62 {
		if b := base << shift; b>>shift == base && b < ceiling {
			return b
		}
	}
	return ceiling
}

// signal wakes c's reader without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx is cancelled, then shuts down as the
// type's comment says and returns once every job has settled.
func (l *leaseLoop[J]) Run(ctx context.Context) {
	calls, cancelCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCalls()
	var grace *time.Timer
	var graceMu sync.Mutex
	stopWatch := context.AfterFunc(ctx, func() {
		graceMu.Lock()
		grace = time.AfterFunc(l.grace, cancelCalls)
		graceMu.Unlock()
	})
	defer func() {
		stopWatch()
		graceMu.Lock()
		if grace != nil {
			grace.Stop()
		}
		graceMu.Unlock()
	}()

	poll := time.NewTicker(l.poll)
	defer poll.Stop()
	slots := make(chan struct{}, l.concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()

	// With most slots busy, wait briefly for a few more to free up, so that
	// one claim transaction fills several instead of one each.
	for ctx.Err() == nil {
		room := l.concurrency
		if l.limit != nil {
			room = min(room, l.limit())
		}
		minClaim := max(1, room/16)
		free := room - len(slots)
		if free <= 0 {
			select {
			case <-l.freed:
			case <-ctx.Done():
			}
			continue
		}
		if free < minClaim && len(slots) > 0 {
			l.coalesce(ctx, slots, room, minClaim)
			free = room - len(slots)
		}
		var jobs []J
		var err error
		if l.ready != nil && !l.ready() {
			err = errHeld // wait for the next poll, then ask again
		} else if jobs, err = l.claim(ctx, free); err != nil && ctx.Err() == nil {
			l.log.Error("claim "+l.what, "err", err)
		}
		if ctx.Err() != nil {
			l.release(ctx, jobs) // claimed as shutdown began: hand them back unstarted
			break
		}
		for _, j := range jobs {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				settle := l.run(calls, j)
				// The slot bounds calls, so it is free once the call
				// returns: the next claim need not wait for this write.
				<-slots
				signal(l.freed)
				settle()
				if l.claimAfterSettle {
					signal(l.wake)
				}
			}()
		}
		if err == nil && len(jobs) == free {
			continue // the outbox may hold more due jobs
		}
		select {
		case <-l.wake:
		case <-poll.C:
		case <-ctx.Done():
		}
	}
	l.log.Info("stopping", "in_flight", len(slots), "grace", l.grace)
	wg.Wait()
	l.log.Info("stopped")
}

// claimCoalesce bounds how long a free slot waits for others before it is
// filled: 10 ms is 2 % of a 0.5 s exchange call.
const claimCoalesce = 10 * time.Millisecond

// coalesce waits until min of room slots are free, claimCoalesce has
// passed, or ctx ends.
func (l *leaseLoop[J]) coalesce(ctx context.Context, slots chan struct{}, room, min int) {
	t := time.NewTimer(claimCoalesce)
	defer t.Stop()
	for room-len(slots) < min {
		select {
		case <-l.freed:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// errHeld stands for a claim skipped because the loop was told to hold off.
var errHeld = errors.New("asked to hold off")
