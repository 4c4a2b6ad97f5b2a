package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun/migrate"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
	"github.com/ordergate/ordergate/domain"
)

func TestSQLiteMigratesAnExistingDatabase(t *testing.T) {
	testMigratesAnExistingDatabase(t, storetest.SQLitePath(t), store.SQLite)
}

func TestPostgresMigratesAnExistingDatabase(t *testing.T) {
	testMigratesAnExistingDatabase(t, storetest.PostgresDSN(t), store.Postgres)
}

// testMigratesAnExistingDatabase builds the schema the first two
// migrations made, with rows in it, marks them applied as bun does, then
// migrates: every order, job and idempotency key survives, and the orders
// read back whole.
func testMigratesAnExistingDatabase(t *testing.T, dsn, dialect string) {
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Bun().ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%v: %s", err, q)
		}
	}
	for _, name := range []string{"20261124000001_orders", "20261125000001_idempotency_keys"} {
		b, err := os.ReadFile(filepath.Join("migrations", dialect, name+".tx.up.sql"))
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range strings.Split(string(b), "--bun:split") {
			exec(stmt)
		}
	}
	if err := migrate.NewMigrator(db.Bun(), migrate.NewMigrations()).Init(ctx); err != nil {
		t.Fatal(err)
	}
	exec(`INSERT INTO bun_migrations (name, group_id) VALUES ('20261124000001', 1), ('20261125000001', 2)`)

	placed, pending := newOrder(t, t0, true), newOrder(t, t0.Add(time.Second), false)
	for _, o := range []domain.Order{placed, pending} {
		exec(`INSERT INTO orders (id, created_at, type, side, instrument, limit_price_cents, quantity, status, placement_attempts)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0)`, o.ID.String(), o.CreatedAt, string(o.Type), string(o.Side), string(o.Instrument), priceCents(o), o.Quantity)
	}
	exec(`UPDATE orders SET status = 'placed', placed_at = ?, placement_attempts = 2 WHERE id = ?`, t0.Add(time.Minute), placed.ID.String())
	exec(`INSERT INTO placement_jobs (order_id, due_at, attempts) VALUES (?, ?, 3)`, pending.ID.String(), t0)
	exec(`INSERT INTO idempotency_keys (key, fingerprint, order_id, created_at) VALUES ('k', ?, ?, ?)`, placed.Fingerprint(), placed.ID.String(), t0)

	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Orders stored before accounts existed belong to the default account.
	got, err := db.Order(ctx, domain.DefaultAccount, placed.ID)
	if err != nil || got.Status != domain.Placed || got.PlacementAttempts != 2 || !got.UpdatedAt.Equal(t0.Add(time.Minute)) || *got.LimitPrice != *placed.LimitPrice {
		t.Errorf("placed order after the migration: %+v, %v; want placed, 2 attempts, updated when placed", got, err)
	}
	if got, err := db.Order(ctx, domain.DefaultAccount, pending.ID); err != nil || got.Status != domain.Pending || !got.UpdatedAt.Equal(pending.CreatedAt) {
		t.Errorf("pending order after the migration: %+v, %v", got, err)
	}
	if jobs := mustClaim(t, db, t0.Add(time.Hour), 10); len(jobs) != 1 || jobs[0].Order.ID != pending.ID || jobs[0].Attempt != 4 {
		t.Errorf("claimable after the migration: %+v; want the pending order's job, attempt 4", jobs)
	}
	again := newOrder(t, t0.Add(time.Hour), true)
	again.Account = domain.DefaultAccount
	if first, replayed, err := db.CreateOnce(ctx, "k", again); err != nil || !replayed || first.ID != placed.ID {
		t.Errorf("idempotency key after the migration: %s, %v, %v; want a replay of %s", first.ID, replayed, err, placed.ID)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Errorf("migrating again: %v", err)
	}
}

func priceCents(o domain.Order) any {
	if o.LimitPrice == nil {
		return nil
	}
	return o.LimitPrice.Cents()
}
