package store

import (
	"context"
	"database/sql"
	"sync"

	"github.com/uptrace/bun"
)

// sqliteStmts are the fixed statements of SQLite write transactions,
// prepared once on the writer's one connection: the pure-Go SQLite would
// otherwise parse each afresh in every transaction, and a transaction that
// writes an order, its job and its event parses three.
var sqliteStmts = []string{insertOrderSQL, insertJobSQL, insertEventSQL, insertDeliveriesSQL, updateOrderSQL, insertExecutionSQL}

// stmtCache holds the writer's prepared statements, by text.
type stmtCache struct {
	mu    sync.Mutex
	ready bool
	stmts map[string]*sql.Stmt
}

// prepare prepares the statements on db unless they are ready. It runs
// before a write transaction takes the writer's one connection; a failure
// (the tables not migrated yet) leaves transactions to prepare their own.
func (c *stmtCache) prepare(ctx context.Context, db *bun.DB) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		return
	}
	stmts := make(map[string]*sql.Stmt, len(sqliteStmts))
	for _, q := range sqliteStmts {
		s, err := db.DB.PrepareContext(ctx, q) //nolint:sqlclosecheck // kept until Close, which closes it
		if err != nil {
			for _, s := range stmts {
				_ = s.Close()
			}
			return
		}
		stmts[q] = s
	}
	c.stmts, c.ready = stmts, true
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		_ = s.Close()
	}
	c.stmts, c.ready = nil, false
}

func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[q]
}

// stmtCacheKey carries a write transaction's statement cache in its
// context.
type stmtCacheKey struct{}

// prepareIn returns q prepared for tx: the writer's statement, if the
// transaction's context carries one, bound to tx (no new parse on the same
// connection), or else one prepared now. Close it when done.
func prepareIn(ctx context.Context, tx bun.Tx, q string) (*sql.Stmt, error) {
	if c, ok := ctx.Value(stmtCacheKey{}).(*stmtCache); ok {
		if s := c.get(q); s != nil {
			return tx.StmtContext(ctx, s), nil
		}
	}
	return tx.PrepareContext(ctx, q)
}
