package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/ordergate/ordergate/domain"
)

// maxBatch bounds how many orders one group commit writes.
const maxBatch = 256

// batchTimeout bounds one group commit. A caller waits for its batch even
// if its own context ends: abandoning it could leave a committed order
// behind an error answer.
const batchTimeout = 30 * time.Second

// errClosed is returned by Create after Close.
var errClosed = errors.New("store: closed")

// createReq is one Create waiting for a group commit.
type createReq struct {
	row  *orderRow
	id   domain.ID
	done chan error
}

// startBatchers starts n committers. Each takes the creates waiting when
// it is free, up to maxBatch, and commits them in one transaction: under
// load, many orders share one commit (and one fsync); alone, an order
// commits at once.
func (d *DB) startBatchers(n int) {
	d.creates = make(chan createReq)
	d.closing = make(chan struct{})
	for range n {
		d.batchers.Add(1)
		go func() {
			defer d.batchers.Done()
			batch := make([]createReq, 0, maxBatch)
			for {
				select {
				case <-d.closing:
					return
				case r := <-d.creates:
					batch = append(batch[:0], r)
				}
			more:
				for len(batch) < maxBatch {
					select {
					case r := <-d.creates:
						batch = append(batch, r)
					default:
						break more
					}
				}
				d.commitBatch(batch)
			}
		}()
	}
}

// commitBatch writes every order of batch and its job in one transaction.
// If that fails, it writes each in a transaction of its own, so that one
// bad order (a duplicate ID, say) fails alone.
func (d *DB) commitBatch(batch []createReq) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if len(batch) > 1 {
		rows := make([]*orderRow, len(batch))
		jobs := make([]*jobRow, len(batch))
		for i, r := range batch {
			rows[i] = r.row
			jobs[i] = &jobRow{OrderID: r.row.ID, DueAt: r.row.CreatedAt}
		}
		err := d.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
				return err
			}
			_, err := tx.NewInsert().Model(&jobs).Exec(ctx)
			return err
		})
		if err == nil {
			for _, r := range batch {
				r.done <- nil
			}
			return
		}
	}
	for _, r := range batch {
		r.done <- d.createOne(ctx, r.row, r.id)
	}
}

// createOne writes one order and its job in one transaction.
func (d *DB) createOne(ctx context.Context, row *orderRow, id domain.ID) error {
	job := &jobRow{OrderID: row.ID, DueAt: row.CreatedAt}
	err := d.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(job).Exec(ctx)
		return err
	})
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return fmt.Errorf("store: order %s: %w", id, domain.ErrConflict)
	default:
		return fmt.Errorf("store: create order %s: %w", id, err)
	}
}
