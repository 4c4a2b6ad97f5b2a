package store

import (
	"context"
	"testing"

	"github.com/ordergate/ordergate/ports"
)

// SettleTx runs one settlement's transaction, without the second try that
// would hide an aborted one.
func (d *DB) SettleTx(ctx context.Context, j ports.Job, o ports.Outcome) error {
	return d.settleAll(ctx, []settlement{{job: j, outcome: o}})
}

// Listening reports whether the PostgreSQL listener has a connection that
// listens for notifications.
func (d *DB) Listening() bool { return d.listener != nil && d.listener.listening.Load() }

// ListenerRunning reports whether the listener's goroutine was started and
// has not ended.
func (d *DB) ListenerRunning() bool {
	if d.listener == nil || d.listener.done == nil {
		return false
	}
	select {
	case <-d.listener.done:
		return false
	default:
		return true
	}
}

// SetWritePriority turns intake's priority on (as Open leaves it) or off,
// for benchmarks that measure what it buys. Off, SQLite's writer serves
// every write in arrival order, and PostgreSQL's background work shares
// intake's pool. Call it before the first write.
func (d *DB) SetWritePriority(on bool) {
	d.wmu.fifo = !on
	if d.dialect == Postgres && !on && d.bg != d.db {
		_ = d.bg.Close()
		d.bg = d.db
	}
}

// SetSequenceBatch sets how many events one sequencing transaction
// numbers, until the test ends.
func SetSequenceBatch(t testing.TB, n int) {
	old := sequenceBatch
	sequenceBatch = n
	t.Cleanup(func() { sequenceBatch = old })
}
