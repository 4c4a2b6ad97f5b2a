package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// createOne writes one order and its job in a transaction of their own.
//
// An attempt that fails may have committed all the same: when the
// connection drops during COMMIT the client cannot tell. So a failed
// attempt is followed by one more, which settles the question on a fresh
// connection. On PostgreSQL its insert waits on the primary key behind the
// first transaction if the server is still committing it; either way it
// then writes the order or finds it stored. An order found stored with
// exactly the fields of ours is ours: Create succeeds.
func (d *DB) createOne(ctx context.Context, row *orderRow) error {
	insert := func() error {
		return d.writeTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			return insertWithJobs(ctx, tx, row)
		})
	}
	err := insert()
	if err != nil && !isUniqueViolation(err) {
		err = insert()
	}
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return d.stored(ctx, row)
	default:
		return fmt.Errorf("store: create order %s: %w", row.ID, err)
	}
}

// stored checks that the order stored under row's ID is the one row
// describes: nil if it is, an error wrapping domain.ErrConflict if another
// order holds the ID.
func (d *DB) stored(ctx context.Context, row *orderRow) error {
	var got orderRow
	if err := d.db.NewSelect().Model(&got).Where("id = ?", row.ID).Scan(ctx); err != nil {
		return fmt.Errorf("store: read back order %s: %w", row.ID, err)
	}
	if !sameRequest(&got, row) {
		return fmt.Errorf("store: order %s: %w", row.ID, domain.ErrConflict)
	}
	return nil
}

// sameRequest reports whether two rows record the same accepted order.
func sameRequest(a, b *orderRow) bool {
	return a.ID == b.ID && a.CreatedAt.Equal(b.CreatedAt) && a.Type == b.Type && a.Side == b.Side &&
		a.Instrument == b.Instrument && a.LimitPriceCents == b.LimitPriceCents && a.Quantity == b.Quantity
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
