package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// claimed is one row a claim returns.
type claimed struct {
	OrderID  string `bun:"order_id"`
	Attempts int    `bun:"attempts"`
}

// Claim leases up to c.Limit due jobs, oldest due first, and returns them
// with their orders. The lease is the job's due_at pushed to c.Now+c.Lease;
// the attempt counter, bumped by each claim, fences it.
func (d *DB) Claim(ctx context.Context, c ports.Claim) ([]ports.Job, error) {
	if c.Limit < 1 {
		return nil, fmt.Errorf("store: claim limit %d must be at least 1", c.Limit)
	}
	now, until := c.Now.UTC(), c.Now.Add(c.Lease).UTC()
	var jobs []ports.Job
	err := d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var got []claimed
		var q *bun.RawQuery
		if d.dialect == Postgres {
			// SKIP LOCKED lets concurrent claimers, in any process, take
			// disjoint sets of jobs without waiting for each other.
			q = tx.NewRaw(`WITH due AS (
				SELECT order_id FROM placement_jobs WHERE due_at <= ?
				ORDER BY due_at LIMIT ? FOR UPDATE SKIP LOCKED)
			UPDATE placement_jobs AS j SET due_at = ?, attempts = j.attempts + 1, lease_owner = ?
			FROM due WHERE j.order_id = due.order_id
			RETURNING j.order_id, j.attempts`, now, c.Limit, until, c.Owner)
		} else {
			// SQLite runs one write transaction at a time (IMMEDIATE), so
			// the sub-select cannot race another claim.
			q = tx.NewRaw(`UPDATE placement_jobs SET due_at = ?, attempts = attempts + 1, lease_owner = ?
			WHERE order_id IN (
				SELECT order_id FROM placement_jobs WHERE due_at <= ? ORDER BY due_at LIMIT ?)
			RETURNING order_id, attempts`, until, c.Owner, now, c.Limit)
		}
		if err := q.Scan(ctx, &got); err != nil {
			return err
		}
		if len(got) == 0 {
			return nil
		}
		ids := make([]string, len(got))
		for i, g := range got {
			ids[i] = g.OrderID
		}
		var rows []orderRow
		if err := tx.NewSelect().Model(&rows).Where("id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
			return err
		}
		byID := make(map[string]*orderRow, len(rows))
		for i := range rows {
			byID[rows[i].ID] = &rows[i]
		}
		jobs = make([]ports.Job, 0, len(got))
		for _, g := range got {
			row, ok := byID[g.OrderID]
			if !ok {
				return fmt.Errorf("job for order %s has no order", g.OrderID)
			}
			o, err := row.toDomain()
			if err != nil {
				return err
			}
			jobs = append(jobs, ports.Job{Order: o, Attempt: g.Attempts})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim placement jobs: %w", err)
	}
	return jobs, nil
}

// Complete marks the job's order placed at the given time and deletes the
// job. Completing an order that is no longer pending changes nothing and
// succeeds: the exchange's acknowledgement stands whoever held the lease.
// Concurrent completions share transactions (group commit).
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
	return d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, r := range rs {
			if err := retryIn(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

func (d *DB) retryOne(ctx context.Context, r retry) error { return d.retryAll(ctx, []retry{r}) }

// retryIn reschedules r's job, fenced by its attempt, and records the cause.
func retryIn(ctx context.Context, tx bun.Tx, r retry) error {
	res, err := tx.NewUpdate().Model((*jobRow)(nil)).
		Set("due_at = ?", r.due).
		Set("lease_owner = NULL").
		Where("order_id = ?", r.id).Where("attempts = ?", r.attempt).
		Exec(ctx)
	if err := leaseHeld(res, err); err != nil {
		return err
	}
	_, err = tx.NewUpdate().Model((*orderRow)(nil)).
		Set("placement_attempts = ?", r.attempt).
		Set("last_error = ?", r.cause).
		Where("id = ?", r.id).
		Exec(ctx)
	return err
}

// Reject marks the job's order rejected with cause and deletes the job. It
// returns an error wrapping domain.ErrLeaseLost if the job was claimed again
// or settled since j was claimed.
func (d *DB) Reject(ctx context.Context, j ports.Job, cause string) error {
	id := j.Order.ID.String()
	err := d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().Model((*jobRow)(nil)).
			Where("order_id = ?", id).Where("attempts = ?", j.Attempt).
			Exec(ctx)
		if err := leaseHeld(res, err); err != nil {
			return err
		}
		_, err = tx.NewUpdate().Model((*orderRow)(nil)).
			Set("status = ?", string(domain.Rejected)).
			Set("placement_attempts = ?", j.Attempt).
			Set("last_error = ?", cause).
			Where("id = ?", id).Where("status = ?", string(domain.Pending)).
			Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: reject order %s: %w", id, err)
	}
	return nil
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
	oldest := `SELECT order_id FROM placement_jobs ORDER BY order_id LIMIT 1`
	if d.dialect == Postgres {
		oldest = `SELECT order_id::text FROM placement_jobs ORDER BY order_id LIMIT 1`
	}
	q := `SELECT (SELECT count(*) FROM placement_jobs) AS n, (` + oldest + `) AS oldest`
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
