package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// AcquireLease takes or renews the lease called name for owner until ttl from
// now, by the database's clock (PostgreSQL's; on SQLite the host's, which
// every process using the file shares), and reports whether owner holds
// it.
func (d *DB) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	var got []string
	var err error
	if d.dialect == Postgres {
		err = d.bg.NewRaw(`INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, now() + ? * interval '1 microsecond')
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE leases.owner = excluded.owner OR leases.expires_at < now()
			RETURNING owner`, name, owner, ttl.Microseconds()).Scan(ctx, &got)
	} else {
		now := time.Now().UTC()
		err = d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error {
			return tx.NewRaw(`INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
				WHERE leases.owner = excluded.owner OR leases.expires_at < ?
				RETURNING owner`, name, owner, now.Add(ttl), now).Scan(ctx, &got)
		})
	}
	if err != nil {
		return false, fmt.Errorf("store: acquire lease %s: %w", name, err)
	}
	return len(got) == 1, nil
}

// ReleaseLease gives up owner's lease called name, if owner holds it.
func (d *DB) ReleaseLease(ctx context.Context, name, owner string) error {
	err := d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewDelete().Table("leases").Where("name = ?", name).Where("owner = ?", owner).Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: release lease %s: %w", name, err)
	}
	return nil
}
