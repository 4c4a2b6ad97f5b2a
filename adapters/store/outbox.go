package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// jobRow is one placement job of the outbox.
type jobRow struct {
	bun.BaseModel `bun:"table:jobs"`

	OrderID    string         `bun:"order_id,pk"`
	DueAt      time.Time      `bun:"due_at"`
	Attempts   int            `bun:"attempts"`
	LeaseOwner sql.NullString `bun:"lease_owner"`
}

// claimed is one row a claim returns.
type claimed struct {
	OrderID  string `bun:"order_id"`
	Attempts int    `bun:"attempts"`
}

// Claim leases up to c.Limit due jobs, oldest due first, and returns them
// with their orders. The lease is the job's due_at pushed to c.Now+c.Lease;
// the attempt counter, bumped by each claim, fences it.
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
	err := d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var got []claimed
		var q *bun.RawQuery
		if d.dialect == Postgres {
			// SKIP LOCKED lets concurrent claimers, in any process, take
			// disjoint sets of jobs without waiting for each other.
			q = tx.NewRaw(`WITH due AS (
				SELECT order_id FROM jobs WHERE due_at <= ? AND kind = 'place'
				ORDER BY due_at LIMIT ? FOR UPDATE SKIP LOCKED)
			UPDATE jobs AS j SET due_at = ?, attempts = j.attempts + 1, lease_owner = ?
			FROM due WHERE j.order_id = due.order_id AND j.kind = 'place'
			RETURNING j.order_id, j.attempts`, now, c.Limit, until, c.Owner)
		} else {
			// SQLite runs one write transaction at a time (IMMEDIATE), so
			// the sub-select cannot race another claim.
			q = tx.NewRaw(`UPDATE jobs SET due_at = ?, attempts = attempts + 1, lease_owner = ?
			WHERE order_id IN (
				SELECT order_id FROM jobs WHERE due_at <= ? AND kind = 'place' ORDER BY due_at LIMIT ?)
			RETURNING order_id, attempts`, until, c.Owner, now, c.Limit)
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
		rerr := d.db.NewSelect().Model((*jobRow)(nil)).Column("order_id", "attempts").
			Where("lease_owner = ?", c.Owner).Where("due_at = ?", until).
			Scan(ctx, &got)
		if rerr == nil && len(got) > 0 {
			if jobs, rerr = withOrders(ctx, d.db, got); rerr == nil {
				return jobs, nil
			}
		}
		return nil, fmt.Errorf("store: claim placement jobs: %w", err)
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
	var rows []orderRow
	if err := db.NewSelect().Model(&rows).Where("id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, err
	}
	orders, err := withFills(ctx, db, rows)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]domain.Order, len(orders))
	for _, o := range orders {
		byID[o.ID.String()] = o
	}
	jobs := make([]ports.Job, 0, len(got))
	for _, g := range got {
		o, ok := byID[g.OrderID]
		if !ok {
			return nil, fmt.Errorf("job for order %s has no order", g.OrderID)
		}
		jobs = append(jobs, ports.Job{Order: o, Attempt: g.Attempts})
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
	err := d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, j := range sortedJobs(jobs) {
			if _, err := tx.NewUpdate().Model((*jobRow)(nil)).
				Set("due_at = ?", now.UTC()).
				Set("attempts = attempts - 1").
				Set("lease_owner = NULL").
				Where("order_id = ?", j.Order.ID.String()).Where("attempts = ?", j.Attempt).
				Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: release %d placement jobs: %w", len(jobs), err)
	}
	return nil
}

// sortedJobs returns jobs ordered by order ID. Transactions that lock
// several orders lock them in this order, so two of them never wait for
// each other in a cycle.
func sortedJobs(jobs []ports.Job) []ports.Job {
	s := slices.Clone(jobs)
	slices.SortFunc(s, func(a, b ports.Job) int { return bytes.Compare(a.Order.ID[:], b.Order.ID[:]) })
	return s
}

// Complete marks the job's order placed at the given time and deletes the
// job. It is not fenced by the lease: the exchange's acknowledgement stands
// whoever held the lease. Completing an order already placed changes
// nothing; completing one that another holder of the job recorded as
// rejected makes it placed, because the exchange's record of the order, not
// the refusal of a repeated call, is the truth. Concurrent completions share
// transactions (group commit).
func (d *DB) Complete(ctx context.Context, j ports.Job, at time.Time) error {
	return d.completes.do(ctx, completion{id: j.Order.ID.String(), at: at, attempt: j.Attempt})
}

// Retry makes the job due again at due and records cause as the order's
// last error. It returns an error wrapping domain.ErrLeaseLost if the job
// was claimed again or settled since j was claimed.
func (d *DB) Retry(ctx context.Context, j ports.Job, due time.Time, cause string) error {
	r := retry{id: j.Order.ID.String(), attempt: j.Attempt, due: due.UTC(), cause: cause}
	if err := d.retries.do(ctx, r); err != nil {
		return fmt.Errorf("store: retry order %s: %w", r.id, err)
	}
	return nil
}

// retry is one Retry waiting for its group commit.
type retry struct {
	id      string
	attempt int
	due     time.Time
	cause   string
}

// retryAll records retries in one transaction. If any lease is lost the
// transaction fails and each retry is recorded alone (retryOne), so that
// only the stale one fails.
func (d *DB) retryAll(ctx context.Context, rs []retry) error {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b retry) int { return strings.Compare(a.id, b.id) })
	return d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, r := range rs {
			if err := retryIn(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// retryOne records one retry in a transaction of its own; a failure other
// than a lost lease may hide a commit, so it tries once more (a retry
// recorded twice is recorded once).
func (d *DB) retryOne(ctx context.Context, r retry) error {
	return once(func() error { return d.retryAll(ctx, []retry{r}) })
}

// retryIn records r's cause on its order, then reschedules r's job, fenced
// by its attempt. Like every write here it locks the order before its job.
func retryIn(ctx context.Context, tx bun.Tx, r retry) error {
	if _, err := tx.NewUpdate().Model((*orderRow)(nil)).
		Set("placement_attempts = ?", r.attempt).
		Set("last_error = ?", r.cause).
		Where("id = ?", r.id).
		Exec(ctx); err != nil {
		return err
	}
	res, err := tx.NewUpdate().Model((*jobRow)(nil)).
		Set("due_at = ?", r.due).
		Set("lease_owner = NULL").
		Where("order_id = ?", r.id).Where("attempts = ?", r.attempt).
		Exec(ctx)
	return leaseHeld(res, err)
}

// Reject marks the job's order rejected with cause and deletes the job. It
// returns an error wrapping domain.ErrLeaseLost if the job was claimed again
// or settled since j was claimed, unless the order is rejected already.
func (d *DB) Reject(ctx context.Context, j ports.Job, cause string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	err := once(func() error { return d.reject(ctx, j, cause) })
	if errors.Is(err, domain.ErrLeaseLost) {
		// Recorded already, by this call (its first commit's answer lost)
		// or by the job's new holder: the order is rejected either way.
		if o, rerr := d.Order(ctx, j.Order.ID); rerr == nil && o.Status == domain.Rejected {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("store: reject order %s: %w", j.Order.ID, err)
	}
	return nil
}

// reject records a rejection in one transaction: the order first, then
// its job, fenced by the attempt.
func (d *DB) reject(ctx context.Context, j ports.Job, cause string) error {
	id := j.Order.ID.String()
	return d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewUpdate().Model((*orderRow)(nil)).
			Set("status = ?", string(domain.Rejected)).
			Set("placement_attempts = ?", j.Attempt).
			Set("last_error = ?", cause).
			Where("id = ?", id).Where("status = ?", string(domain.Pending)).
			Exec(ctx); err != nil {
			return err
		}
		res, err := tx.NewDelete().Model((*jobRow)(nil)).
			Where("order_id = ?", id).Where("attempts = ?", j.Attempt).
			Exec(ctx)
		return leaseHeld(res, err)
	})
}

// leaseHeld turns a fenced write that matched no row into ErrLeaseLost.
func leaseHeld(res interface{ RowsAffected() (int64, error) }, err error) error {
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
	oldest := `SELECT order_id FROM jobs ORDER BY order_id LIMIT 1`
	if d.dialect == Postgres {
		oldest = `SELECT order_id::text FROM jobs ORDER BY order_id LIMIT 1`
	}
	q := `SELECT (SELECT count(*) FROM jobs) AS n, (` + oldest + `) AS oldest`
	if err := d.db.NewRaw(q).Scan(ctx, &row); err != nil {
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

// completion is one acknowledged placement to record.
type completion struct {
	id      string
	at      time.Time
	attempt int
}

// completeAll records completions in one transaction, in order ID order;
// each order is locked before its job, as everywhere in this package.
func (d *DB) completeAll(ctx context.Context, cs []completion) error {
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b completion) int { return strings.Compare(a.id, b.id) })
	return d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, c := range cs {
			if err := markPlaced(ctx, tx, c); err != nil {
				return err
			}
			if _, err := tx.NewDelete().Model((*jobRow)(nil)).Where("order_id = ?", c.id).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// completeOne records one completion alone, twice if the first attempt's
// outcome is unknown: completing is idempotent.
func (d *DB) completeOne(ctx context.Context, c completion) error {
	if err := once(func() error { return d.completeAll(ctx, []completion{c}) }); err != nil {
		return fmt.Errorf("store: complete order %s: %w", c.id, err)
	}
	return nil
}

// markPlaced records the acknowledgement on a pending order, or on one a
// repeated call got refused (see Complete); an order placed already is left
// as it is.
func markPlaced(ctx context.Context, tx bun.Tx, c completion) error {
	attempts := "MAX(placement_attempts, ?)"
	if tx.Dialect().Name() == dialect.PG {
		attempts = "GREATEST(placement_attempts, ?)"
	}
	_, err := tx.NewUpdate().Model((*orderRow)(nil)).
		Set("status = ?", string(domain.Placed)).
		Set("placed_at = ?", c.at.UTC()).
		Set("placement_attempts = "+attempts, c.attempt).
		Where("id = ?", c.id).
		Where("status IN (?)", bun.List([]string{string(domain.Pending), string(domain.Rejected)})).
		Exec(ctx)
	return err
}
