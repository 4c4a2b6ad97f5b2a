package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/ordergate/ordergate/domain"
)

// keyRow is one recorded idempotency key.
type keyRow struct {
	bun.BaseModel `bun:"table:idempotency_keys"`

	Account     string    `bun:"account,pk"`
	Key         string    `bun:"key,pk"`
	Fingerprint string    `bun:"fingerprint"`
	OrderID     string    `bun:"order_id"`
	CreatedAt   time.Time `bun:"created_at"`
}

// CreateOnce stores o, its placement job and key in one transaction, or, if
// key is taken, returns the order stored under it (replayed) or an error
// wrapping domain.ErrKeyReused if that order asked for something else.
//
// Once started it runs to the end whatever becomes of ctx, and it tells
// the truth about a commit whose answer was lost: a failed attempt is
// followed by another, which either writes the order or finds the key
// taken, and an order found under the key with o's ID is o, created by
// this call.
func (d *DB) CreateOnce(ctx context.Context, key domain.IdempotencyKey, o domain.Order) (domain.Order, bool, error) {
	if err := ctx.Err(); err != nil {
		return domain.Order{}, false, err // nothing started, nothing written
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	if o.Account == "" {
		return domain.Order{}, false, fmt.Errorf("store: order %s has no account: %w", o.ID, domain.ErrInvalid)
	}
	c, err := newCreation(o)
	if err != nil {
		return domain.Order{}, false, fmt.Errorf("store: create order %s: %w", o.ID, err)
	}
	row := c.row
	k := &keyRow{Account: string(o.Account), Key: string(key), Fingerprint: o.Fingerprint(), OrderID: row.ID, CreatedAt: row.CreatedAt}
	// Three tries: one may end with an unknown outcome, and a key purged
	// between a failed insert and the read that follows is free again.
	for range 3 {
		err = d.writeTx(ctx, intake, func(ctx context.Context, tx bun.Tx) error {
			// The key goes in first: a concurrent request with the same key
			// waits here (PostgreSQL) or behind the write lock (SQLite), then
			// fails on the primary key and writes nothing.
			if _, err := tx.NewInsert().Model(k).Exec(ctx); err != nil {
				return err
			}
			return insertCreations(ctx, tx, c)
		})
		if err == nil {
			return o, false, nil
		}
		if !isUniqueViolation(err) {
			continue // perhaps committed after all: the next try finds out
		}
		first, found, kerr := d.keyed(ctx, o.Account, key)
		switch {
		case kerr != nil:
			return domain.Order{}, false, kerr
		case !found:
			continue
		case first.ID == o.ID:
			return first, false, nil // this call's own commit, its answer lost
		case first.Fingerprint() != o.Fingerprint():
			return domain.Order{}, false, fmt.Errorf("store: key %q: %w", key, domain.ErrKeyReused)
		default:
			return first, true, nil
		}
	}
	return domain.Order{}, false, fmt.Errorf("store: create order %s under key: %w", o.ID, err)
}

// keyed returns the order recorded under key, if any.
func (d *DB) keyed(ctx context.Context, account domain.Account, key domain.IdempotencyKey) (domain.Order, bool, error) {
	orders, err := snapshot(ctx, d.db, d.db.NewSelect().Model((*orderRow)(nil)).
		Where("id = (SELECT order_id FROM idempotency_keys WHERE account = ? AND key = ?)", string(account), string(key)), "")
	if err != nil {
		return domain.Order{}, false, fmt.Errorf("store: read key %q: %w", key, err)
	}
	if len(orders) == 0 {
		return domain.Order{}, false, nil
	}
	return orders[0], true, nil
}

// PurgeKeys deletes keys recorded before t; their orders stay.
func (d *DB) PurgeKeys(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().Model((*keyRow)(nil)).Where("created_at < ?", before.UTC()).Exec(ctx)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: purge idempotency keys: %w", err)
	}
	return int(n), nil
}
