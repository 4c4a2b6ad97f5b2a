package ports

import (
	"context"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// JobKind says what a job asks of the exchange.
type JobKind string

// Job kinds.
const (
	// JobPlace places the order.
	JobPlace JobKind = "place"
	// JobCancel asks the exchange to cancel the order. It is due only once
	// the exchange has acknowledged the placement.
	JobCancel JobKind = "cancel"
)

// Job is a claimed job: an exchange call the holder must make.
type Job struct {
	// Kind says which call.
	Kind JobKind
	// Order is the order it is about, as stored when the job was claimed.
	Order domain.Order
	// Attempt numbers this claim: 1 for the first claim of the job, 2 for
	// the next, and so on. It also fences the lease: a settle whose Attempt
	// no longer matches the stored job fails with domain.ErrLeaseLost.
	Attempt int
}

// Claim describes one claim of due jobs.
type Claim struct {
	// Owner names the claiming dispatcher, for operators.
	Owner string
	// Now is the current time: jobs due at or before it are claimable.
	Now time.Time
	// Lease is how long the claim holds the jobs. Until Now+Lease no other
	// claim returns them; afterwards they are claimable again.
	Lease time.Duration
	// Limit is the most jobs to claim; it must be at least 1.
	Limit int
}

// Result is how an exchange call ended.
type Result string

// Results of an exchange call.
const (
	// Done: the exchange took the call (acknowledged the placement, or
	// accepted the cancel request, whose outcome its feed reports).
	Done Result = "done"
	// Retry: a transient failure; the job is due again at Outcome.Due.
	Retry Result = "retry"
	// Refused: the exchange refused the call for good.
	Refused Result = "refused"
)

// Outcome is what a dispatcher records after a call.
type Outcome struct {
	Result Result
	// At is when the call ended; for a placement that is done, when the
	// exchange acknowledged the order.
	At time.Time
	// Due is when a job to retry is due again.
	Due time.Time
	// Cause is the exchange's error, for Retry and Refused.
	Cause string
}

// Outbox holds the jobs written with each change of an order and lets
// dispatchers claim and settle them. Claims on different connections, or
// in different processes sharing a database, never return the same job
// while its lease runs. Every write tells the truth about a commit whose
// answer was lost: it finds out, or fails only while the database is
// unreachable. Claim.Now, Outcome times and due times must all come from
// one clock shared by every process using the outbox (see
// adapters/store.Clock).
type Outbox interface {
	// Claim leases up to c.Limit due jobs, oldest due first, and returns
	// them with their orders. It returns an empty slice when none is due.
	// Once started it finishes even if ctx ends, so that jobs it leased are
	// never lost to the caller; an error means nothing was leased, or
	// (the database unreachable) that the leases run out unused.
	Claim(ctx context.Context, c Claim) ([]Job, error)
	// Release hands back jobs claimed but never started: each is due at
	// now, and the claim does not count as an attempt. The caller must not
	// settle a job it released.
	Release(ctx context.Context, jobs []Job, now time.Time) error
	// Settle records the outcome of j's call, in one transaction with the
	// change it makes to the order (domain.Acknowledge on a placement that
	// is done, domain.Reject on one refused):
	//   - place, Done: the order is acknowledged, the job deleted, and a
	//     waiting cancel job becomes due. Not fenced: the exchange's
	//     acknowledgement stands whoever held the lease, and turns an order
	//     another holder recorded as rejected into a placed one.
	//   - place, Refused: the order is rejected, the job deleted (and a
	//     cancel job, if the order ended).
	//   - cancel, Done or Refused: the job is deleted; the feed reports how
	//     the cancel ended. A refusal's cause is the order's last error.
	//   - Retry, either kind: the job is due again at o.Due and the order
	//     keeps o.Cause as its last error.
	// Fenced settles return an error wrapping domain.ErrLeaseLost if j's
	// lease is no longer held and the outcome was not recorded already.
	Settle(ctx context.Context, j Job, o Outcome) error
}

// OutboxStats describes the outbox at one moment.
type OutboxStats struct {
	// Pending is how many orders wait for placement (place jobs not yet
	// settled).
	Pending int64
	// Oldest is the ID of the oldest pending order, zero when none is
	// pending. IDs are time-ordered: domain.IDTime(Oldest) is its commit time.
	Oldest domain.ID
}

// OutboxStater reports the outbox's depth, for metrics and operators.
type OutboxStater interface {
	// OutboxStats counts the pending placement jobs.
	OutboxStats(ctx context.Context) (OutboxStats, error)
}
