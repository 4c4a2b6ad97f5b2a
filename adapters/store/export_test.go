package store

import (
	"context"

	"github.com/ordergate/ordergate/ports"
)

// SettleTx runs one settlement's transaction, without the second try that
// would hide an aborted one.
func (d *DB) SettleTx(ctx context.Context, j ports.Job, o ports.Outcome) error {
	return d.settleAll(ctx, []settlement{{job: j, outcome: o}})
}
