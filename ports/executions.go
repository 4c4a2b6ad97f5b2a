package ports

import (
	"context"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// Batch is a run of reports from one venue session, in sequence order and
// without gaps, that follows the last report applied from that session.
type Batch struct {
	// Session names the venue session.
	Session string
	// After is the sequence number of the last report applied before this
	// batch (0 for none): Reports[0].Seq is After+1, and so on.
	After int64
	// Reports are the batch's reports.
	Reports []domain.Report
	// At is when the batch is applied, for reports about unknown orders.
	At time.Time
}

// Applied says what a batch did.
type Applied struct {
	// Kinds counts the reports applied to orders, by kind.
	Kinds map[domain.ReportKind]int
	// Duplicates counts reports whose execution was applied already.
	Duplicates int
	// Unknown counts reports about orders the store does not hold, kept
	// aside.
	Unknown int
}

// Executions records what an exchange's feed reports.
type Executions interface {
	// FeedPosition returns the venue session whose report was applied
	// last and the sequence number of that report; "" and 0 when none was.
	FeedPosition(ctx context.Context) (session string, seq int64, err error)
	// ApplyReports applies b in one transaction: for each report, in
	// order, domain.Apply to its order, the order's change and the report
	// itself stored (its ExecID unique: a repeated execution is counted as
	// a duplicate and changes nothing), a report about an unknown order
	// kept aside; and the session's position moved to the batch's last
	// report. It returns an error wrapping domain.ErrLeaseLost, and applies
	// nothing, if the session's position is no longer b.After: another
	// ingester applied those reports.
	ApplyReports(ctx context.Context, b Batch) (Applied, error)
}

// Leases elects one holder of a task among instances sharing a database.
type Leases interface {
	// Acquire takes or renews the lease called name for owner, until ttl
	// from now on the database's clock, and reports whether owner holds
	// it: true if it was free, expired or owner's already.
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// Release gives up owner's lease called name, if owner holds it.
	Release(ctx context.Context, name, owner string) error
}
