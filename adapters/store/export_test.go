package store

import (
	"context"
	"time"

	"github.com/ordergate/ordergate/ports"
)

// CompleteTx runs one completion's transaction, without the second try that
// would hide an aborted one.
func (d *DB) CompleteTx(ctx context.Context, j ports.Job, at time.Time) error {
	return d.completeAll(ctx, []completion{{id: j.Order.ID.String(), at: at, attempt: j.Attempt}})
}

// RejectTx runs one rejection's transaction, without the second try.
func (d *DB) RejectTx(ctx context.Context, j ports.Job, cause string) error {
	return d.reject(ctx, j, cause)
}
