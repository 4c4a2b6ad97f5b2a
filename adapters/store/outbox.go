package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// jobRow is one job of the outbox: a call the exchange is owed about an
// order. A job with no due_at waits (a cancel, for the acknowledgement).
type jobRow struct {
	bun.BaseModel `bun:"table:jobs"`

	OrderID    string         `bun:"order_id,pk"`
	Kind       string         `bun:"kind,pk"`
	DueAt      sql.NullTime   `bun:"due_at"`
	Attempts   int            `bun:"attempts"`
	LeaseOwner sql.NullString `bun:"lease_owner"`
}

// claimed is one row a claim returns.
type claimed struct {
	OrderID  string `bun:"order_id"`
	Kind     string `bun:"kind"`
	Attempts int    `bun:"attempts"`
}

// Claim leases up to c.Limit due jobs of any kind, oldest due first, and
// returns them with their orders. The lease is the job's due_at pushed to
// c.Now+c.Lease; the attempt counter, bumped by each claim, fences it.
//
// Once started it runs to the end whatever becomes of ctx: a claim that
// committed must hand its jobs to the caller, or they would sit leased to
// nobody until the lease ran out. If the commit's answer is lost, it reads
// back the jobs leased to c.Owner until exactly c.Now+c.Lease.
func (d *DB) Claim(ctx context.Context, c ports.Claim) ([]ports.Job, error) {
	if c.Limit < 1 {
		return nil, fmt.Errorf("store: claim limit %d must be at least 1", c.Limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	// Microseconds, the precision both databases keep, so that the read-back
	// compares equal.
	now, until := c.Now.UTC(), c.Now.Add(c.Lease).UTC().Truncate(time.Microsecond)
	var jobs []ports.Job
	err := d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error {
		var got []claimed
		var q *bun.RawQuery
		if d.dialect == Postgres {
			// SKIP LOCKED lets concurrent claimers, in any process, take
			// disjoint sets of jobs without waiting for each other.
			q = tx.NewRaw(`WITH due AS (
				SELECT order_id, kind FROM jobs WHERE due_at <= ?
				ORDER BY due_at LIMIT ? FOR UPDATE SKIP LOCKED)
			UPDATE jobs AS j SET due_at = ?, attempts = j.attempts + 1, lease_owner = ?
			FROM due WHERE j.order_id = due.order_id AND j.kind = due.kind
			RETURNING j.order_id, j.kind, j.attempts`, now, c.Limit, until, c.Owner)
		} else {
			// SQLite runs one write transaction at a time (IMMEDIATE), so
			// the sub-select cannot race another claim.
			q = tx.NewRaw(`UPDATE jobs SET due_at = ?, attempts = attempts + 1, lease_owner = ?
			WHERE (order_id, kind) IN (
				SELECT order_id, kind FROM jobs WHERE due_at <= ? ORDER BY due_at LIMIT ?)
			RETURNING order_id, kind, attempts`, until, c.Owner, now, c.Limit)
		}
		if err := q.Scan(ctx, &got); err != nil {
			return err
		}
		var err error
		jobs, err = withOrders(ctx, tx, got)
		return err
	})
	if err != nil {
		// Perhaps committed: the jobs leased by this very claim say so.
		var got []claimed
		rerr := d.bg.NewSelect().Model((*jobRow)(nil)).Column("order_id", "kind", "attempts").
			Where("lease_owner = ?", c.Owner).Where("due_at = ?", until).
			Scan(ctx, &got)
		if rerr == nil && len(got) > 0 {
			if jobs, rerr = withOrders(ctx, d.bg, got); rerr == nil {
				return jobs, nil
			}
		}
		return nil, fmt.Errorf("store: claim jobs: %w", err)
	}
	return jobs, nil
}

// withOrders returns the claimed jobs with their orders.
func withOrders(ctx context.Context, db bun.IDB, got []claimed) ([]ports.Job, error) {
	if len(got) == 0 {
		return nil, nil
	}
	ids := make([]string, len(got))
	for i, g := range got {
		ids[i] = g.OrderID
	}
	orders, err := readOrders(ctx, db, ids, false)
	if err != nil {
		return nil, err
	}
	jobs := make([]ports.Job, 0, len(got))
	for _, g := range got {
		o, ok := orders[g.OrderID]
		if !ok {
			return nil, fmt.Errorf("job for order %s has no order", g.OrderID)
		}
		jobs = append(jobs, ports.Job{Kind: ports.JobKind(g.Kind), Order: o, Attempt: g.Attempts})
	}
	return jobs, nil
}

// Release hands back claimed jobs that were never started: each becomes
// due at once and its claim is not counted as an attempt. A job whose
// lease is no longer held is left as it is.
func (d *DB) Release(ctx context.Context, jobs []ports.Job, now time.Time) error {
	if len(jobs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	err := d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error {
		for _, j := range sortedJobs(jobs) {
			if _, err := tx.NewUpdate().Model((*jobRow)(nil)).
				Set("due_at = ?", now.UTC()).
				Set("attempts = attempts - 1").
				Set("lease_owner = NULL").
				Where("order_id = ?", j.Order.ID.String()).Where("kind = ?", string(j.Kind)).Where("attempts = ?", j.Attempt).
				Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: release %d jobs: %w", len(jobs), err)
	}
	return nil
}

// sortedJobs returns jobs ordered by order ID, then kind. Transactions that
// lock several orders lock them in this order, each order before its jobs,
// so that two of them never wait for each other in a cycle.
func sortedJobs(jobs []ports.Job) []ports.Job {
	s := slices.Clone(jobs)
	slices.SortFunc(s, func(a, b ports.Job) int {
		return cmp.Or(cmp.Compare(a.Order.ID.String(), b.Order.ID.String()), cmp.Compare(a.Kind, b.Kind))
	})
	return s
}

// settlement is one Settle waiting for its group commit.
type settlement struct {
	job     ports.Job
	outcome ports.Outcome
}

// Settle records the outcome of j's call (see ports.Outbox). Concurrent
// settles share transactions (group commit); a settle whose lease is lost
// fails alone.
func (d *DB) Settle(ctx context.Context, j ports.Job, o ports.Outcome) error {
	if err := d.settles.do(ctx, settlement{job: j, outcome: o}); err != nil {
		return fmt.Errorf("store: settle %s job of order %s: %w", j.Kind, j.Order.ID, err)
	}
	return nil
}

// settleAll records settlements in one transaction, locking their orders
// in ID order, each before its jobs.
func (d *DB) settleAll(ctx context.Context, ss []settlement) error {
	ss = slices.Clone(ss)
	slices.SortFunc(ss, func(a, b settlement) int {
		return cmp.Or(cmp.Compare(a.job.Order.ID.String(), b.job.Order.ID.String()), cmp.Compare(a.job.Kind, b.job.Kind))
	})
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.job.Order.ID.String()
	}
	return d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error {
		orders, err := readOrders(ctx, tx, ids, true)
		if err != nil {
			return err
		}
		before := maps.Clone(orders)
		var events []eventRow
		for _, s := range ss {
			o, ok := orders[s.job.Order.ID.String()]
			if !ok {
				return fmt.Errorf("order %s: %w", s.job.Order.ID, domain.ErrNotFound)
			}
			n, evs, err := settleIn(ctx, tx, o, s)
			if err != nil {
				return err
			}
			if events, err = eventRows(events, n, evs); err != nil {
				return err
			}
			orders[o.ID.String()] = n
		}
		if err := updateOrders(ctx, tx, changedOrders(before, orders)); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
}

// settleOne records one settlement alone, twice if the first attempt's
// outcome is unknown: settling is idempotent.
func (d *DB) settleOne(ctx context.Context, s settlement) error {
	err := once(func() error { return d.settleAll(ctx, []settlement{s}) })
	if errors.Is(err, domain.ErrLeaseLost) && s.outcome.Result == ports.Refused && s.job.Kind == ports.JobPlace {
		// Recorded already, by this call (its first commit's answer lost)
		// or by the job's new holder: the order is rejected either way.
		if o, rerr := d.Order(ctx, s.job.Order.Account, s.job.Order.ID); rerr == nil && o.Status == domain.Rejected {
			return nil
		}
	}
	return err
}

// settleIn applies one settlement to order o, inside tx, and returns the
// order after it with the events of the change.
func settleIn(ctx context.Context, tx bun.Tx, o domain.Order, s settlement) (domain.Order, []domain.Event, error) {
	j, out := s.job, s.outcome
	id := o.ID.String()
	switch {
	case out.Result == ports.Retry:
		if err := fence(ctx, tx, j, func(q *bun.UpdateQuery) *bun.UpdateQuery {
			return q.Set("due_at = ?", out.Due.UTC()).Set("lease_owner = NULL")
		}); err != nil {
			return o, nil, err
		}
		if j.Kind == ports.JobPlace {
			o.PlacementAttempts = j.Attempt
		}
		o.LastError = out.Cause
		return o, nil, nil
	case j.Kind == ports.JobPlace && out.Result == ports.Done:
		// Not fenced: the acknowledgement stands whoever held the lease.
		n, events, err := domain.Acknowledge(o, out.At)
		if err != nil {
			return o, nil, err
		}
		n.PlacementAttempts = max(n.PlacementAttempts, j.Attempt)
		if err := deleteJob(ctx, tx, id, ports.JobPlace); err != nil {
			return o, nil, err
		}
		// A cancel requested meanwhile may go out now.
		_, err = tx.NewUpdate().Model((*jobRow)(nil)).Set("due_at = ?", out.At.UTC()).
			Where("order_id = ?", id).Where("kind = ?", string(ports.JobCancel)).Where("due_at IS NULL").
			Exec(ctx)
		return n, events, err
	case j.Kind == ports.JobPlace && out.Result == ports.Refused:
		res, err := tx.NewDelete().Model((*jobRow)(nil)).
			Where("order_id = ?", id).Where("kind = ?", string(ports.JobPlace)).Where("attempts = ?", j.Attempt).
			Exec(ctx)
		if err := leaseHeld(res, err); err != nil {
			return o, nil, err
		}
		n, events, err := domain.Reject(o, out.Cause, out.At)
		if err != nil {
			return o, nil, err
		}
		n.PlacementAttempts = max(n.PlacementAttempts, j.Attempt)
		if n.Status.Terminal() {
			err = deleteJob(ctx, tx, id, ports.JobCancel)
		}
		return n, events, err
	default: // a cancel request the exchange took or refused
		if err := deleteJob(ctx, tx, id, ports.JobCancel); err != nil {
			return o, nil, err
		}
		if out.Result == ports.Refused {
			o.LastError = out.Cause
		}
		return o, nil, nil
	}
}

// fence updates j's job only while j's lease is held: ErrLeaseLost if not.
func fence(ctx context.Context, tx bun.Tx, j ports.Job, set func(*bun.UpdateQuery) *bun.UpdateQuery) error {
	res, err := set(tx.NewUpdate().Model((*jobRow)(nil))).
		Where("order_id = ?", j.Order.ID.String()).Where("kind = ?", string(j.Kind)).Where("attempts = ?", j.Attempt).
		Exec(ctx)
	return leaseHeld(res, err)
}

func deleteJob(ctx context.Context, tx bun.Tx, orderID string, kind ports.JobKind) error {
	_, err := tx.NewDelete().Model((*jobRow)(nil)).Where("order_id = ?", orderID).Where("kind = ?", string(kind)).Exec(ctx)
	return err
}

// leaseHeld turns a fenced write that matched no row into ErrLeaseLost.
func leaseHeld(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return domain.ErrLeaseLost
	}
	return nil
}

// OutboxStats counts the pending placement jobs and finds the oldest. Order
// IDs are time-ordered, so the smallest pending ID is the oldest order; both
// figures come from the job table's primary key, without touching orders.
func (d *DB) OutboxStats(ctx context.Context) (ports.OutboxStats, error) {
	var row struct {
		N      int64   `bun:"n"`
		Oldest *string `bun:"oldest"`
	}
	// PostgreSQL 15 has no min(uuid); the primary key's first entry is as cheap.
	oldest := `SELECT order_id FROM jobs WHERE kind = 'place' ORDER BY order_id LIMIT 1`
	if d.dialect == Postgres {
		oldest = `SELECT order_id::text FROM jobs WHERE kind = 'place' ORDER BY order_id LIMIT 1`
	}
	q := `SELECT (SELECT count(*) FROM jobs WHERE kind = 'place') AS n, (` + oldest + `) AS oldest`
	if err := d.bg.NewRaw(q).Scan(ctx, &row); err != nil {
		return ports.OutboxStats{}, fmt.Errorf("store: outbox stats: %w", err)
	}
	st := ports.OutboxStats{Pending: row.N}
	if row.Oldest != nil {
		id, err := domain.ParseID(*row.Oldest)
		if err != nil {
			return ports.OutboxStats{}, fmt.Errorf("store: outbox stats: oldest job %q: %w", *row.Oldest, err)
		}
		st.Oldest = id
	}
	return st, nil
}
