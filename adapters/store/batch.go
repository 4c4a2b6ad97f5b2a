package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/ordergate/ordergate/domain"
)

// maxBatch bounds how many writes one group commit carries.
const maxBatch = 256

// batchTimeout bounds one group commit. A caller waits for its batch even
// if its own context ends: abandoning it could leave a committed order
// behind an error answer.
const batchTimeout = 30 * time.Second

// errClosed is returned by writes after Close.
var errClosed = errors.New("store: closed")

// groupCommit coalesces concurrent writes of one kind into shared
// transactions. Each committer takes the writes waiting when it is free, up
// to maxBatch, and commits them together: under load many writes share one
// commit (and one fsync); alone, a write commits at once. If a shared
// commit fails, each write is retried in a transaction of its own, so one
// bad write fails alone and every caller gets its own result.
type groupCommit[T any] struct {
	in      chan groupReq[T]
	closing chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	// all writes every item in one transaction.
	all func(ctx context.Context, items []T) error
	// one writes a single item in its own transaction.
	one func(ctx context.Context, item T) error
}

type groupReq[T any] struct {
	item T
	done chan error
}

func newGroupCommit[T any](committers int, all func(context.Context, []T) error, one func(context.Context, T) error) *groupCommit[T] {
	g := &groupCommit[T]{in: make(chan groupReq[T]), closing: make(chan struct{}), all: all, one: one}
	for range committers {
		g.wg.Add(1)
		go g.run()
	}
	return g
}

func (g *groupCommit[T]) run() {
	defer g.wg.Done()
	batch := make([]groupReq[T], 0, maxBatch)
	items := make([]T, 0, maxBatch)
	for {
		select {
		case <-g.closing:
			return
		case r := <-g.in:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-g.in:
				batch = append(batch, r)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		items = items[:0]
		for _, r := range batch {
			items = append(items, r.item)
		}
		if len(batch) > 1 && g.all(ctx, items) == nil {
			for _, r := range batch {
				r.done <- nil
			}
		} else {
			for _, r := range batch {
				r.done <- g.one(ctx, r.item)
			}
		}
		cancel()
	}
}

// do queues item and waits until it is committed or has failed.
func (g *groupCommit[T]) do(ctx context.Context, item T) error {
	r := groupReq[T]{item: item, done: make(chan error, 1)}
	select {
	case g.in <- r:
	case <-g.closing:
		return errClosed
	case <-ctx.Done():
		return ctx.Err() // not queued: nothing was written
	}
	return <-r.done
}

// close stops the committers once the batches under way are done.
func (g *groupCommit[T]) close() {
	g.once.Do(func() { close(g.closing) })
	g.wg.Wait()
}

// insertWithJobs inserts orders and a placement job for each, due when the
// order was created. On PostgreSQL that is one statement per table over
// arrays. On SQLite it is one prepared single-row statement per table, run
// once per order: the pure-Go SQLite pays for parsing a large statement
// afresh each time (bun does not prepare) and for unmapping the memory it
// took, which profiles showed as the largest single cost of a POST.
func insertWithJobs(ctx context.Context, tx bun.Tx, rows ...*orderRow) error {
	if tx.Dialect().Name() == dialect.SQLite {
		return insertWithJobsPrepared(ctx, tx, rows)
	}
	return insertWithJobsUnnest(ctx, tx, rows)
}

// On PostgreSQL the whole batch goes as arrays, one per column, into two
// statements whose text never changes, so pgx prepares each once per
// connection and PostgreSQL plans it once, whatever the batch size.
const (
	insertOrdersUnnestSQL = `INSERT INTO orders (id, created_at, type, side, instrument, limit_price_cents, quantity, status, placement_attempts, placed_at, last_error)
		SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::integer[], $10::timestamptz[], $11::text[])`
	insertJobsUnnestSQL = `INSERT INTO placement_jobs (order_id, due_at) SELECT * FROM unnest($1::uuid[], $2::timestamptz[])`
)

func insertWithJobsUnnest(ctx context.Context, tx bun.Tx, rows []*orderRow) error {
	n := len(rows)
	ids, created := make([]string, n), make([]time.Time, n)
	types, sides, instruments, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	prices, quantities, attempts := make([]*int64, n), make([]int64, n), make([]int32, n)
	placedAt, lastErrors := make([]*time.Time, n), make([]*string, n)
	for i, r := range rows {
		ids[i], created[i] = r.ID, r.CreatedAt
		types[i], sides[i], instruments[i], statuses[i] = r.Type, r.Side, r.Instrument, r.Status
		quantities[i], attempts[i] = r.Quantity, int32(r.PlacementAttempts) //nolint:gosec // G115: attempts of a new order, 0
		if r.LimitPriceCents.Valid {
			prices[i] = &r.LimitPriceCents.Int64
		}
		if r.PlacedAt.Valid {
			placedAt[i] = &r.PlacedAt.Time
		}
		if r.LastError.Valid {
			lastErrors[i] = &r.LastError.String
		}
	}
	if _, err := tx.Tx.ExecContext(ctx, insertOrdersUnnestSQL, ids, created, types, sides, instruments, prices, quantities, statuses, attempts, placedAt, lastErrors); err != nil {
		return err
	}
	_, err := tx.Tx.ExecContext(ctx, insertJobsUnnestSQL, ids, created)
	return err
}

const (
	insertOrderSQL = `INSERT INTO orders (id, created_at, type, side, instrument, limit_price_cents, quantity, status, placement_attempts, placed_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertJobSQL   = `INSERT INTO placement_jobs (order_id, due_at, attempts, lease_owner) VALUES (?, ?, 0, NULL)`
)

// sqliteTime formats t exactly as bun writes times to SQLite, so that rows
// written here compare and read back like rows bun wrote.
func sqliteTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.999999-07:00")
}

func insertWithJobsPrepared(ctx context.Context, tx bun.Tx, rows []*orderRow) error {
	orders, err := tx.PrepareContext(ctx, insertOrderSQL)
	if err != nil {
		return err
	}
	defer orders.Close()
	jobs, err := tx.PrepareContext(ctx, insertJobSQL)
	if err != nil {
		return err
	}
	defer jobs.Close()
	for _, r := range rows {
		var placedAt any
		if r.PlacedAt.Valid {
			placedAt = sqliteTime(r.PlacedAt.Time)
		}
		created := sqliteTime(r.CreatedAt)
		if _, err := orders.ExecContext(ctx, r.ID, created, r.Type, r.Side, r.Instrument, r.LimitPriceCents,
			r.Quantity, r.Status, r.PlacementAttempts, placedAt, r.LastError); err != nil {
			return err
		}
		if _, err := jobs.ExecContext(ctx, r.ID, created); err != nil {
			return err
		}
	}
	return nil
}

func (d *DB) createAll(ctx context.Context, rows []*orderRow) error {
	return d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		return insertWithJobs(ctx, tx, rows...)
	})
}

// createOne writes one order and its job in one transaction.
func (d *DB) createOne(ctx context.Context, row *orderRow) error {
	err := d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		return insertWithJobs(ctx, tx, row)
	})
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return fmt.Errorf("store: order %s: %w", row.ID, domain.ErrConflict)
	default:
		return fmt.Errorf("store: create order %s: %w", row.ID, err)
	}
}

// completion is one acknowledged placement to record.
type completion struct {
	id      string
	at      time.Time
	attempt int
}

func (d *DB) completeAll(ctx context.Context, cs []completion) error {
	return d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		ids := make([]string, len(cs))
		for i, c := range cs {
			if err := markPlaced(ctx, tx, c); err != nil {
				return err
			}
			ids[i] = c.id
		}
		_, err := tx.NewDelete().Model((*jobRow)(nil)).Where("order_id IN (?)", bun.List(ids)).Exec(ctx)
		return err
	})
}

func (d *DB) completeOne(ctx context.Context, c completion) error {
	if err := d.completeAll(ctx, []completion{c}); err != nil {
		return fmt.Errorf("store: complete order %s: %w", c.id, err)
	}
	return nil
}

// markPlaced records the acknowledgement on a pending order; an order no
// longer pending is left as it is.
func markPlaced(ctx context.Context, tx bun.Tx, c completion) error {
	_, err := tx.NewUpdate().Model((*orderRow)(nil)).
		Set("status = ?", string(domain.Placed)).
		Set("placed_at = ?", c.at.UTC()).
		Set("placement_attempts = ?", c.attempt).
		Where("id = ?", c.id).Where("status = ?", string(domain.Pending)).
		Exec(ctx)
	return err
}
