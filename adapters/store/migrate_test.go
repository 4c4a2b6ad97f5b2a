package store_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun/migrate"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
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

// TestPostgresMigratesEventIDs builds the schema every migration before
// 20261201000001 made, with events numbered and not, as the old sequencer
// left them, then migrates: numbered events keep their IDs, an unnumbered
// one stays pending and is numbered next, after them, and new events and
// deliveries follow on.
func TestPostgresMigratesEventIDs(t *testing.T) {
	db, err := store.Open(ctx, storetest.PostgresDSN(t))
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
	names := []string{"20261124000001_orders", "20261125000001_idempotency_keys", "20261128000001_lifecycle", "20261129000001_accounts", "20261130000001_events"}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join("migrations", store.Postgres, name+".tx.up.sql"))
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
	for i, name := range names {
		exec(`INSERT INTO bun_migrations (name, group_id) VALUES (?, ?)`, name[:14], i+1)
	}

	hook := mustWebhook(t, db, testAccount, t0)
	// Seqs 1 and 3 were numbered 1 and 2; seq 2 committed after the last
	// sequencer ran.
	olds := []domain.Order{newOrder(t, t0, true), newOrder(t, t0.Add(time.Second), false), newOrder(t, t0.Add(2*time.Second), true)}
	for i, id := range []any{1, nil, 2} {
		o := olds[i]
		doc, err := json.Marshal(map[string]any{"id": o.ID.String(), "account": string(o.Account), "created_at": o.CreatedAt, "updated_at": o.UpdatedAt,
			"type": string(o.Type), "side": string(o.Side), "instrument": string(o.Instrument), "quantity": o.Quantity, "status": string(o.Status)})
		if err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO events (seq, id, account, order_id, type, occurred_at, order_doc) VALUES (?, ?, ?, ?, 'order.created', ?, ?)`,
			i+1, id, string(o.Account), o.ID.String(), o.CreatedAt, string(doc))
		exec(`INSERT INTO webhook_deliveries (webhook_id, event_seq, due_at, enqueued_at) VALUES (?, ?, ?, ?)`, string(hook.ID), i+1, o.CreatedAt, o.CreatedAt)
	}
	exec(`SELECT setval('events_seq_seq', 3)`)

	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	orderIDs := func(evs []domain.OrderEvent) []string {
		var out []string
		for _, e := range evs {
			out = append(out, fmt.Sprint(e.ID, " ", e.Order.ID))
		}
		return out
	}
	evs, err := db.EventsAfter(ctx, ports.EventQuery{Limit: 10})
	if got, want := orderIDs(evs), []string{"1 " + olds[0].ID.String(), "2 " + olds[2].ID.String()}; err != nil || !slices.Equal(got, want) {
		t.Errorf("events after the migration = %v, %v; want %v (the numbered ones)", got, err, want)
	}
	if ds := claimDeliveries(t, db, "s", t0.Add(time.Hour), 10, 10); len(ds) != 2 {
		t.Errorf("claimed %d deliveries before sequencing; want 2 (of the numbered events)", len(ds))
	}
	fresh := newOrder(t, t0.Add(time.Hour), false)
	mustCreate(t, db, fresh)
	if n, err := db.SequenceEvents(ctx); n != 2 || err != nil {
		t.Errorf("SequenceEvents = %d, %v; want 2 (the pending old event and the new one)", n, err)
	}
	evs, err = db.EventsAfter(ctx, ports.EventQuery{Account: testAccount, After: 2, Limit: 10})
	if got, want := orderIDs(evs), []string{"3 " + olds[1].ID.String(), "4 " + fresh.ID.String()}; err != nil || !slices.Equal(got, want) {
		t.Errorf("events after 2 = %v, %v; want %v", got, err, want)
	}
	if got, err := db.OrderEvents(ctx, testAccount, fresh.ID); err != nil || len(got) != 1 || got[0].ID != 4 {
		t.Errorf("OrderEvents of the new order = %+v, %v; want event 4", got, err)
	}
	if last, err := db.LastEventID(ctx); last != 4 || err != nil {
		t.Errorf("LastEventID = %d, %v; want 4", last, err)
	}
	if ds := claimDeliveries(t, db, "s", t0.Add(time.Hour+30*time.Second), 10, 10); len(ds) != 2 {
		t.Errorf("claimed %d deliveries after sequencing; want 2 (the pending event's and the new one's)", len(ds))
	}
	if err := db.Migrate(ctx); err != nil {
		t.Errorf("migrating again: %v", err)
	}
}
