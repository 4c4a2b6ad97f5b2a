package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// sqliteLifecycle is the SQLite side of migrations/postgres/
// 20261128000001_lifecycle: the order lifecycle's eight statuses, fills and
// cancel jobs. SQLite cannot change a CHECK constraint or a primary key in
// place, so the orders and jobs tables are rebuilt as SQLite's documented
// twelve-step procedure says: on one connection with foreign keys off
// (the pragma is ignored inside a transaction), in one transaction, with a
// foreign key check before the commit. Written in Go for that one
// connection; the migration's other files are SQL.
var sqliteLifecycle = migrate.Migration{
	Name:    "20261128000001",
	Comment: "lifecycle",
	Up: func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
		return rebuildSQLite(ctx, m.DB(), sqliteLifecycleUp)
	},
	Down: func(context.Context, *migrate.Migrator, *migrate.Migration) error {
		return errors.New("migration 20261128000001 (the order lifecycle) cannot be undone without losing fills and statuses: restore a backup")
	},
}

func rebuildSQLite(ctx context.Context, db *bun.DB, statements []string) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer func() {
		if _, ferr := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON"); ferr != nil && err == nil {
			err = ferr
		}
	}()
	return conn.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, s := range statements {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%w: %s", err, s)
			}
		}
		var table string
		switch err := tx.QueryRowContext(ctx, "PRAGMA foreign_key_check").Scan(&table); {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("foreign key check: %w", err)
		default:
			return fmt.Errorf("foreign key check: table %s has rows without their parent", table)
		}
	})
}

var sqliteLifecycleUp = []string{
	`CREATE TABLE orders_new (
    id                 TEXT      PRIMARY KEY,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL,
    type               TEXT      NOT NULL CHECK (type IN ('market', 'limit')),
    side               TEXT      NOT NULL CHECK (side IN ('buy', 'sell')),
    instrument         TEXT      NOT NULL CHECK (length(instrument) = 12),
    limit_price_cents  INTEGER   CHECK (limit_price_cents > 0),
    quantity           INTEGER   NOT NULL CHECK (quantity >= 1),
    status             TEXT      NOT NULL CHECK (status IN
        ('pending', 'placed', 'partially_filled', 'pending_cancel', 'filled', 'canceled', 'expired', 'rejected')),
    filled_quantity    INTEGER   NOT NULL DEFAULT 0 CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
    placement_attempts INTEGER   NOT NULL DEFAULT 0,
    placed_at          TIMESTAMP,
    last_error         TEXT,
    CHECK ((type = 'limit') = (limit_price_cents IS NOT NULL))
)`,
	`INSERT INTO orders_new (id, created_at, updated_at, type, side, instrument, limit_price_cents, quantity, status, placement_attempts, placed_at, last_error)
    SELECT id, created_at, COALESCE(placed_at, created_at), type, side, instrument, limit_price_cents, quantity, status, placement_attempts, placed_at, last_error
    FROM orders`,
	`DROP TABLE orders`,
	`ALTER TABLE orders_new RENAME TO orders`,
	`CREATE INDEX orders_status_id ON orders (status, id DESC)`,
	`CREATE TABLE jobs (
    order_id    TEXT      NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    kind        TEXT      NOT NULL CHECK (kind IN ('place', 'cancel')),
    due_at      TIMESTAMP,
    attempts    INTEGER   NOT NULL DEFAULT 0,
    lease_owner TEXT,
    PRIMARY KEY (order_id, kind)
)`,
	`INSERT INTO jobs (order_id, kind, due_at, attempts, lease_owner)
    SELECT order_id, 'place', due_at, attempts, lease_owner FROM placement_jobs`,
	`DROP TABLE placement_jobs`,
	`CREATE INDEX jobs_due_at ON jobs (due_at)`,
	`CREATE TABLE executions (
    exec_id     TEXT      PRIMARY KEY,
    order_id    TEXT      NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    session     TEXT      NOT NULL,
    seq         INTEGER   NOT NULL,
    kind        TEXT      NOT NULL CHECK (kind IN ('ack', 'partial_fill', 'fill', 'canceled', 'expired', 'rejected', 'cancel_rejected')),
    quantity    INTEGER   NOT NULL CHECK (quantity >= 0),
    price_cents INTEGER   CHECK (price_cents > 0),
    executed_at TIMESTAMP NOT NULL,
    reason      TEXT
)`,
	`CREATE INDEX executions_fills ON executions (order_id, executed_at, seq, exec_id, quantity, price_cents) WHERE kind IN ('partial_fill', 'fill')`,
	`CREATE TABLE unknown_reports (
    session     TEXT      NOT NULL,
    seq         INTEGER   NOT NULL,
    exec_id     TEXT      NOT NULL,
    order_id    TEXT      NOT NULL,
    kind        TEXT      NOT NULL,
    report      TEXT      NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (session, seq)
)`,
	`CREATE TABLE feed_positions (
    session    TEXT      PRIMARY KEY,
    last_seq   INTEGER   NOT NULL CHECK (last_seq >= 0),
    updated_at TIMESTAMP NOT NULL
)`,
	`CREATE TABLE leases (
    name       TEXT      PRIMARY KEY,
    owner      TEXT      NOT NULL,
    expires_at TIMESTAMP NOT NULL
)`,
}
