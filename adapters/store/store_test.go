package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// MustOpenSQLite opens and migrates a fresh SQLite database.
func MustOpenSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	return storetest.MustOpen(tb, storetest.SQLitePath(tb))
}

// MustOpenPostgres opens and migrates a fresh PostgreSQL schema of its own.
func MustOpenPostgres(tb testing.TB) *store.DB {
	tb.Helper()
	return storetest.MustOpen(tb, storetest.PostgresDSN(tb))
}

func TestSQLite(t *testing.T)   { runContractSuite(t, MustOpenSQLite) }
func TestPostgres(t *testing.T) { runContractSuite(t, MustOpenPostgres) }

var (
	t0  = time.Date(2026, 11, 24, 10, 15, 30, 123456000, time.UTC)
	ctx = context.Background()
)

// newOrder returns a valid pending order created at at.
func newOrder(t testing.TB, at time.Time, limit bool) domain.Order {
	t.Helper()
	spec := domain.Spec{Type: domain.Market, Side: domain.Buy, Instrument: "US0378331005", Quantity: 10}
	if limit {
		p := domain.PriceFromCents(12345)
		spec = domain.Spec{Type: domain.Limit, Side: domain.Sell, Instrument: "DE000BASF111", LimitPrice: &p, Quantity: 7}
	}
	o, err := domain.New(domain.NewID(at), at, spec)
	if err != nil {
		t.Fatal(err)
	}
	o.Account = testAccount
	return o
}

// testAccount owns the orders the suite creates.
const testAccount domain.Account = "acme"

func mustCreate(t testing.TB, db *store.DB, o domain.Order) {
	t.Helper()
	if err := db.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	n, err := db.Bun().NewSelect().Table(table).Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func mustClaim(t *testing.T, db *store.DB, now time.Time, limit int) []ports.Job {
	t.Helper()
	jobs, err := db.Claim(ctx, ports.Claim{Owner: "test", Now: now, Lease: 30 * time.Second, Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// settleDone records that j's call was done at at.
func settleDone(db *store.DB, j ports.Job, at time.Time) error {
	return db.Settle(ctx, j, ports.Outcome{Result: ports.Done, At: at})
}

// settleRetry records a transient failure of j's call: due again at due.
func settleRetry(db *store.DB, j ports.Job, due time.Time, cause string) error {
	return db.Settle(ctx, j, ports.Outcome{Result: ports.Retry, At: due, Due: due, Cause: cause})
}

// settleRefused records that the exchange refused j's call for good.
func settleRefused(db *store.DB, j ports.Job, cause string) error {
	return db.Settle(ctx, j, ports.Outcome{Result: ports.Refused, At: t0, Cause: cause})
}

// runContractSuite is what every store adapter must pass.
func runContractSuite(t *testing.T, open func(testing.TB) *store.DB) {
	t.Run("create and read back every field", func(t *testing.T) {
		db := open(t)
		for _, limit := range []bool{false, true} {
			want := newOrder(t, t0, limit)
			mustCreate(t, db, want)
			got, err := db.Order(ctx, testAccount, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if got.CreatedAt.Location() != time.UTC || got.CreatedAt.Nanosecond() != 123456000 {
				t.Errorf("created_at = %v; want UTC with microseconds kept", got.CreatedAt)
			}
		}
	})

	t.Run("unknown order is not found", func(t *testing.T) {
		db := open(t)
		if _, err := db.Order(ctx, testAccount, domain.NewID(t0)); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("error = %v; want ErrNotFound", err)
		}
	})

	t.Run("duplicate ID conflicts and changes nothing", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		dup := o
		dup.Quantity = 99
		if err := db.Create(ctx, dup); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("error = %v; want ErrConflict", err)
		}
		got, _ := db.Order(ctx, testAccount, o.ID)
		if got.Quantity != 10 || count(t, db, "orders") != 1 || count(t, db, "jobs") != 1 {
			t.Errorf("after a duplicate: quantity %d, %d orders, %d jobs; want 10, 1, 1", got.Quantity, count(t, db, "orders"), count(t, db, "jobs"))
		}
	})

	t.Run("a failed transaction leaves neither row", func(t *testing.T) {
		db := open(t)
		// A unique index on a column every new job shares makes the job
		// insert, the second statement of the transaction, fail once one job
		// exists: the order insert before it has already succeeded.
		if _, err := db.Bun().NewRaw("CREATE UNIQUE INDEX jobs_fail ON jobs (attempts)").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		o := newOrder(t, t0, false)
		first := newOrder(t, t0, true)
		mustCreate(t, db, first) // takes the one slot the unique index allows
		err := db.Create(ctx, o)
		if err == nil {
			t.Fatal("Create succeeded; want the job insert to fail")
		}
		if _, err := db.Order(ctx, testAccount, o.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("order row after a failed transaction: %v; want not found", err)
		}
		if n := count(t, db, "orders"); n != 1 {
			t.Errorf("orders = %d; want 1 (only the first)", n)
		}
		if n := count(t, db, "jobs"); n != 1 {
			t.Errorf("jobs = %d; want 1 (only the first)", n)
		}
	})

	t.Run("list newest first with cursor, status and limit", func(t *testing.T) {
		db := open(t)
		var all []domain.Order
		for i := range 7 {
			o := newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), i%2 == 0)
			mustCreate(t, db, o)
			all = append(all, o)
		}
		// Place two so the status filter has something to separate.
		jobs := mustClaim(t, db, t0.Add(time.Hour), 10)
		for _, j := range jobs {
			if j.Order.ID == all[1].ID || j.Order.ID == all[4].ID {
				if err := settleDone(db, j, t0.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
		}
		ids := func(os []domain.Order) []domain.ID {
			var out []domain.ID
			for _, o := range os {
				out = append(out, o.ID)
			}
			return out
		}
		tests := []struct {
			name string
			q    ports.ListQuery
			want []domain.ID
		}{
			{"first page", ports.ListQuery{Account: testAccount, Limit: 3}, []domain.ID{all[6].ID, all[5].ID, all[4].ID}},
			{"next page", ports.ListQuery{Account: testAccount, Limit: 3, Before: all[4].ID}, []domain.ID{all[3].ID, all[2].ID, all[1].ID}},
			{"last page", ports.ListQuery{Account: testAccount, Limit: 3, Before: all[1].ID}, []domain.ID{all[0].ID}},
			{"placed only", ports.ListQuery{Account: testAccount, Limit: 10, Status: domain.Placed}, []domain.ID{all[4].ID, all[1].ID}},
			{"pending before a cursor", ports.ListQuery{Account: testAccount, Limit: 2, Status: domain.Pending, Before: all[5].ID}, []domain.ID{all[3].ID, all[2].ID}},
			{"rejected: none", ports.ListQuery{Account: testAccount, Limit: 10, Status: domain.Rejected}, nil},
		}
		for _, tt := range tests {
			got, err := db.List(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.name, diff)
			}
		}
	})

	t.Run("claim takes due jobs only, oldest first, up to the limit", func(t *testing.T) {
		db := open(t)
		var os []domain.Order
		for i := range 5 {
			o := newOrder(t, t0.Add(time.Duration(i)*time.Second), false)
			mustCreate(t, db, o)
			os = append(os, o)
		}
		if jobs := mustClaim(t, db, t0.Add(-time.Second), 10); len(jobs) != 0 {
			t.Fatalf("claimed %d jobs before any was due", len(jobs))
		}
		jobs := mustClaim(t, db, t0.Add(2*time.Second), 2)
		if len(jobs) != 2 {
			t.Fatalf("claimed %d; want 2 (limit)", len(jobs))
		}
		got := []domain.ID{jobs[0].Order.ID, jobs[1].Order.ID}
		sort.Slice(got, func(i, j int) bool { return got[i].String() < got[j].String() })
		if got[0] != os[0].ID || got[1] != os[1].ID {
			t.Errorf("claimed %v; want the two oldest %v, %v", got, os[0].ID, os[1].ID)
		}
		for _, j := range jobs {
			if j.Attempt != 1 {
				t.Errorf("attempt = %d; want 1", j.Attempt)
			}
			if diff := cmp.Diff(os[0].Quantity, j.Order.Quantity); diff != "" {
				t.Errorf("claimed order differs: %s", diff)
			}
		}
		// Only os[2] is still due at t0+2s.
		if jobs := mustClaim(t, db, t0.Add(2*time.Second), 10); len(jobs) != 1 || jobs[0].Order.ID != os[2].ID {
			t.Errorf("second claim = %d jobs; want only %s", len(jobs), os[2].ID)
		}
	})

	t.Run("lease holds until it expires, then the job is claimable again", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		first := mustClaim(t, db, t0, 1) // lease until t0+30s
		if len(first) != 1 {
			t.Fatal("first claim got nothing")
		}
		if again := mustClaim(t, db, t0.Add(29*time.Second), 1); len(again) != 0 {
			t.Fatalf("claimed a leased job before its lease ran out")
		}
		again := mustClaim(t, db, t0.Add(30*time.Second), 1)
		if len(again) != 1 || again[0].Attempt != 2 {
			t.Fatalf("after expiry claimed %+v; want the job as attempt 2", again)
		}
		// The first holder is fenced off.
		if err := settleRetry(db, first[0], t0.Add(time.Minute), "late"); !errors.Is(err, domain.ErrLeaseLost) {
			t.Errorf("stale Retry error = %v; want ErrLeaseLost", err)
		}
		if err := settleRefused(db, first[0], "late"); !errors.Is(err, domain.ErrLeaseLost) {
			t.Errorf("stale Reject error = %v; want ErrLeaseLost", err)
		}
		if got, _ := db.Order(ctx, testAccount, o.ID); got.Status != domain.Pending || got.LastError != "" {
			t.Errorf("stale settles changed the order: %+v", got)
		}
	})

	t.Run("concurrent claimers never share a job", func(t *testing.T) {
		db := open(t)
		const jobs = 200
		want := map[domain.ID]bool{}
		for i := range jobs {
			o := newOrder(t, t0.Add(time.Duration(i)*time.Microsecond), i%3 == 0)
			mustCreate(t, db, o)
			want[o.ID] = true
		}
		var mu sync.Mutex
		seen := map[domain.ID]int{}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := db.Claim(ctx, ports.Claim{Owner: "w" + string(rune('0'+w)), Now: t0.Add(time.Hour), Lease: time.Hour, Limit: 7})
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, j := range got {
						seen[j.Order.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(seen) != jobs {
			t.Errorf("claimed %d distinct jobs; want %d", len(seen), jobs)
		}
		for id, n := range seen {
			if n != 1 || !want[id] {
				t.Errorf("job %s claimed %d times (known: %v); want once", id, n, want[id])
			}
		}
	})

	t.Run("complete marks placed, deletes the job and is idempotent", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, true)
		mustCreate(t, db, o)
		j := mustClaim(t, db, t0, 1)[0]
		at := t0.Add(1500 * time.Millisecond)
		for range 2 {
			if err := settleDone(db, j, at); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := db.Order(ctx, testAccount, o.ID)
		if got.Status != domain.Placed || !got.PlacedAt.Equal(at) || got.PlacementAttempts != 1 {
			t.Errorf("order = status %s, placed_at %v, attempts %d; want placed at %v after 1", got.Status, got.PlacedAt, got.PlacementAttempts, at)
		}
		if n := count(t, db, "jobs"); n != 0 {
			t.Errorf("jobs = %d after completion; want 0", n)
		}
		if jobs := mustClaim(t, db, t0.Add(time.Hour), 10); len(jobs) != 0 {
			t.Errorf("a completed job was claimed again")
		}
	})

	t.Run("outbox stats count pending jobs and find the oldest", func(t *testing.T) {
		db := open(t)
		st, err := db.OutboxStats(ctx)
		if err != nil || st.Pending != 0 || !st.Oldest.IsZero() {
			t.Fatalf("empty outbox stats = %+v, %v; want 0 pending, no oldest", st, err)
		}
		older, newer := newOrder(t, t0, false), newOrder(t, t0.Add(time.Second), true)
		mustCreate(t, db, newer)
		mustCreate(t, db, older)
		if st, err = db.OutboxStats(ctx); err != nil || st.Pending != 2 || st.Oldest != older.ID {
			t.Fatalf("stats = %+v, %v; want 2 pending, oldest %s", st, err, older.ID)
		}
		j := mustClaim(t, db, t0, 1)[0]
		if err := settleDone(db, j, t0); err != nil {
			t.Fatal(err)
		}
		if st, err = db.OutboxStats(ctx); err != nil || st.Pending != 1 || st.Oldest != newer.ID {
			t.Errorf("stats after placing the older = %+v, %v; want 1 pending, oldest %s", st, err, newer.ID)
		}
	})

	t.Run("retry reschedules and records the error", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		j := mustClaim(t, db, t0, 1)[0]
		due := t0.Add(5 * time.Second)
		if err := settleRetry(db, j, due, "Connection not available"); err != nil {
			t.Fatal(err)
		}
		got, _ := db.Order(ctx, testAccount, o.ID)
		if got.Status != domain.Pending || got.PlacementAttempts != 1 || got.LastError != "Connection not available" {
			t.Errorf("order after retry = %+v", got)
		}
		if jobs := mustClaim(t, db, due.Add(-time.Millisecond), 1); len(jobs) != 0 {
			t.Errorf("claimed before the retry was due")
		}
		jobs := mustClaim(t, db, due, 1)
		if len(jobs) != 1 || jobs[0].Attempt != 2 || jobs[0].Order.LastError != "Connection not available" {
			t.Errorf("claim at due = %+v; want attempt 2 carrying the last error", jobs)
		}
	})

	t.Run("reject marks rejected and deletes the job", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		j := mustClaim(t, db, t0, 1)[0]
		if err := settleRefused(db, j, "unknown instrument"); err != nil {
			t.Fatal(err)
		}
		got, _ := db.Order(ctx, testAccount, o.ID)
		if got.Status != domain.Rejected || got.LastError != "unknown instrument" || got.PlacementAttempts != 1 {
			t.Errorf("order after reject = %+v", got)
		}
		if n := count(t, db, "jobs"); n != 0 {
			t.Errorf("jobs = %d after rejection; want 0", n)
		}
		// Rejecting again is answered as done (a repeated write after a lost
		// commit answer looks exactly like this) and changes nothing.
		if err := settleRefused(db, j, "again"); err != nil {
			t.Errorf("second Reject error = %v; want nil: the order is rejected", err)
		}
		if got, _ := db.Order(ctx, testAccount, o.ID); got.LastError != "unknown instrument" {
			t.Errorf("last error after a second Reject = %q; want the first cause kept", got.LastError)
		}
	})

	t.Run("idempotency key: first create, replay, reuse with another order", func(t *testing.T) {
		db := open(t)
		first := newOrder(t, t0, true)
		got, replayed, err := db.CreateOnce(ctx, "key-1", first)
		if err != nil || replayed || got.ID != first.ID {
			t.Fatalf("first CreateOnce = %s, replayed %v, %v; want the new order", got.ID, replayed, err)
		}
		same := newOrder(t, t0.Add(time.Second), true) // same request, new ID
		got, replayed, err = db.CreateOnce(ctx, "key-1", same)
		if err != nil || !replayed || got.ID != first.ID {
			t.Fatalf("repeat CreateOnce = %s, replayed %v, %v; want the first order replayed", got.ID, replayed, err)
		}
		other := newOrder(t, t0.Add(time.Second), false)
		if _, _, err := db.CreateOnce(ctx, "key-1", other); !errors.Is(err, domain.ErrKeyReused) {
			t.Fatalf("reuse with another order: %v; want ErrKeyReused", err)
		}
		if n := count(t, db, "orders"); n != 1 {
			t.Errorf("orders = %d; want 1", n)
		}
		if n := count(t, db, "jobs"); n != 1 {
			t.Errorf("jobs = %d; want 1", n)
		}
	})

	t.Run("idempotency key: racing creates make one order", func(t *testing.T) {
		db := open(t)
		const racers = 50
		var wg sync.WaitGroup
		type result struct {
			id       domain.ID
			replayed bool
			err      error
		}
		results := make(chan result, racers)
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false)
				<-start
				got, replayed, err := db.CreateOnce(ctx, "race", o)
				results <- result{got.ID, replayed, err}
			}()
		}
		close(start)
		wg.Wait()
		close(results)
		ids := map[domain.ID]int{}
		fresh := 0
		for r := range results {
			if r.err != nil {
				t.Fatal(r.err)
			}
			ids[r.id]++
			if !r.replayed {
				fresh++
			}
		}
		if len(ids) != 1 || fresh != 1 {
			t.Errorf("%d racers saw %d distinct orders, %d not replayed; want 1 order, created once", racers, len(ids), fresh)
		}
		if n := count(t, db, "orders"); n != 1 {
			t.Errorf("orders = %d; want 1", n)
		}
	})

	t.Run("idempotency key: purge forgets old keys, keeps orders", func(t *testing.T) {
		db := open(t)
		old := newOrder(t, t0, false)
		if _, _, err := db.CreateOnce(ctx, "old", old); err != nil {
			t.Fatal(err)
		}
		recent := newOrder(t, t0.Add(25*time.Hour), false)
		if _, _, err := db.CreateOnce(ctx, "recent", recent); err != nil {
			t.Fatal(err)
		}
		n, err := db.PurgeKeys(ctx, t0.Add(time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("PurgeKeys = %d, %v; want 1", n, err)
		}
		if _, err := db.Order(ctx, testAccount, old.ID); err != nil {
			t.Errorf("purging a key lost its order: %v", err)
		}
		// The purged key is free for a new order; the kept one still replays.
		again := newOrder(t, t0.Add(26*time.Hour), true)
		if got, replayed, err := db.CreateOnce(ctx, "old", again); err != nil || replayed || got.ID != again.ID {
			t.Errorf("purged key: CreateOnce = %s, %v, %v; want a new order", got.ID, replayed, err)
		}
		if got, replayed, err := db.CreateOnce(ctx, "recent", newOrder(t, t0.Add(26*time.Hour), false)); err != nil || !replayed || got.ID != recent.ID {
			t.Errorf("kept key: CreateOnce = %s, %v, %v; want a replay", got.ID, replayed, err)
		}
	})

	t.Run("concurrent creates commit together, a bad one fails alone", func(t *testing.T) {
		db := open(t)
		dup := newOrder(t, t0, false)
		mustCreate(t, db, dup)
		const n = 100
		errs := make([]error, n)
		orders := make([]domain.Order, n)
		var wg sync.WaitGroup
		for i := range n {
			orders[i] = newOrder(t, t0.Add(time.Duration(i+1)*time.Millisecond), i%2 == 0)
			if i%25 == 0 {
				orders[i].ID = dup.ID // four duplicates among them
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.Create(ctx, orders[i])
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if i%25 == 0 {
				if !errors.Is(err, domain.ErrConflict) {
					t.Errorf("duplicate %d: %v; want ErrConflict", i, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("order %d: %v", i, err)
				continue
			}
			if _, err := db.Order(ctx, testAccount, orders[i].ID); err != nil {
				t.Errorf("order %d acknowledged but not stored: %v", i, err)
			}
		}
		if o, j := count(t, db, "orders"), count(t, db, "jobs"); o != n-4+1 || j != o {
			t.Errorf("%d orders, %d jobs; want %d of each", o, j, n-4+1)
		}
	})

	t.Run("concurrent retries commit together, a stale lease fails alone", func(t *testing.T) {
		db := open(t)
		const n = 60
		for i := range n {
			mustCreate(t, db, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), i%2 == 0))
		}
		jobs := mustClaim(t, db, t0.Add(time.Second), n)
		if len(jobs) != n {
			t.Fatalf("claimed %d jobs; want %d", len(jobs), n)
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		due := t0.Add(time.Hour)
		for i, j := range jobs {
			if i%20 == 0 {
				j.Attempt++ // a lease this dispatcher no longer holds
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = settleRetry(db, j, due, fmt.Sprintf("failure %d", i))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			got, _ := db.Order(ctx, testAccount, jobs[i].Order.ID)
			if i%20 == 0 {
				if !errors.Is(err, domain.ErrLeaseLost) || got.LastError != "" {
					t.Errorf("stale retry %d: %v, last error %q; want ErrLeaseLost and nothing recorded", i, err, got.LastError)
				}
				continue
			}
			if err != nil || got.LastError != fmt.Sprintf("failure %d", i) || got.PlacementAttempts != 1 {
				t.Errorf("retry %d: %v, order %+v", i, err, got)
			}
		}
		if again := mustClaim(t, db, due, n); len(again) != n {
			t.Errorf("%d jobs due after the retries; want all %d (stale ones stay leased until then too)", len(again), n)
		}
	})

	t.Run("a late acknowledgement wins over a rejection the job's next holder recorded", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		first := mustClaim(t, db, t0, 1)[0]                      // lease until t0+30s
		second := mustClaim(t, db, t0.Add(31*time.Second), 1)[0] // taken over
		if err := settleRefused(db, second, "duplicate client order id"); err != nil {
			t.Fatal(err)
		}
		if err := settleDone(db, first, t0.Add(40*time.Second)); err != nil {
			t.Fatalf("late Complete = %v; want nil", err)
		}
		got, _ := db.Order(ctx, testAccount, o.ID)
		if got.Status != domain.Placed || !got.PlacedAt.Equal(t0.Add(40*time.Second)) || got.PlacementAttempts != 2 {
			t.Errorf("after a late acknowledgement: %s placed at %v after %d attempts; want placed at %v after 2",
				got.Status, got.PlacedAt, got.PlacementAttempts, t0.Add(40*time.Second))
		}
		if n := count(t, db, "jobs"); n != 0 {
			t.Errorf("%d jobs left; want 0", n)
		}
	})

	t.Run("a late rejection loses to an acknowledgement", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		first := mustClaim(t, db, t0, 1)[0]
		second := mustClaim(t, db, t0.Add(31*time.Second), 1)[0]
		if err := settleDone(db, second, t0.Add(32*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := settleRefused(db, first, "refused"); !errors.Is(err, domain.ErrLeaseLost) {
			t.Errorf("late Reject = %v; want ErrLeaseLost", err)
		}
		if got, _ := db.Order(ctx, testAccount, o.ID); got.Status != domain.Placed || got.LastError != "" {
			t.Errorf("after a late rejection: %s, last error %q; want placed, none", got.Status, got.LastError)
		}
	})

	t.Run("settles racing on taken-over jobs never fail but for a lost lease", func(t *testing.T) {
		db := open(t)
		const n = 40
		for i := range n {
			mustCreate(t, db, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), i%2 == 0))
		}
		stale := mustClaim(t, db, t0.Add(time.Second), n)
		fresh := mustClaim(t, db, t0.Add(time.Hour), n)
		if len(stale) != n || len(fresh) != n {
			t.Fatalf("claimed %d and %d jobs; want %d twice", len(stale), len(fresh), n)
		}
		// The old holder's acknowledgements race the new holder's retries
		// and rejections, in batches that lock many orders at once, in
		// opposite orders.
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			wg.Add(2)
			go func() { defer wg.Done(); errs <- settleDone(db, stale[i], t0.Add(time.Hour)) }()
			go func() {
				defer wg.Done()
				j := fresh[n-1-i]
				if i%2 == 0 {
					errs <- settleRetry(db, j, t0.Add(2*time.Hour), "failed")
				} else {
					errs <- settleRefused(db, j, "refused")
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil && !errors.Is(err, domain.ErrLeaseLost) {
				t.Errorf("settle: %v; want nil or ErrLeaseLost", err)
			}
		}
		placed, err := db.List(ctx, ports.ListQuery{Account: testAccount, Status: domain.Placed, Limit: 100})
		if err != nil || len(placed) != n || count(t, db, "jobs") != 0 {
			t.Errorf("%d orders placed (%v), %d jobs left; want all %d placed, none left", len(placed), err, count(t, db, "jobs"), n)
		}
	})

	t.Run("released jobs are due at once and their claim is not counted", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		j := mustClaim(t, db, t0, 1)[0]
		if err := db.Release(ctx, []ports.Job{j}, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		again := mustClaim(t, db, t0.Add(time.Second), 1)
		if len(again) != 1 || again[0].Attempt != 1 {
			t.Fatalf("after a release: %d jobs claimable, attempt %v; want 1 job, attempt 1 again", len(again), again)
		}
		// A release by a holder whose lease is gone changes nothing.
		if err := db.Release(ctx, []ports.Job{{Order: o, Attempt: 7}}, t0); err != nil {
			t.Fatal(err)
		}
		if jobs := mustClaim(t, db, t0.Add(2*time.Second), 1); len(jobs) != 0 {
			t.Errorf("a stale release freed a leased job")
		}
	})

	t.Run("the schema accepts exactly the lifecycle's statuses and report kinds", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		set := func(table, column, value, where string, arg any) error {
			_, err := db.Bun().ExecContext(ctx, "UPDATE "+table+" SET "+column+" = ? WHERE "+where, value, arg)
			return err
		}
		for _, st := range domain.Statuses() {
			if err := set("orders", "status", string(st), "id = ?", o.ID.String()); err != nil {
				t.Errorf("status %s refused: %v", st, err)
			}
		}
		if err := set("orders", "status", "cancelled", "id = ?", o.ID.String()); err == nil {
			t.Error("status cancelled (not the lifecycle's) accepted")
		}
		if _, err := db.Bun().ExecContext(ctx, `INSERT INTO executions (exec_id, order_id, session, seq, kind, quantity, executed_at) VALUES ('e1', ?, 's', 1, 'ack', 0, ?)`, o.ID.String(), t0); err != nil {
			t.Fatal(err)
		}
		for _, k := range domain.ReportKinds() {
			if err := set("executions", "kind", string(k), "exec_id = ?", "e1"); err != nil {
				t.Errorf("report kind %s refused: %v", k, err)
			}
		}
		if err := set("executions", "kind", "trade", "exec_id = ?", "e1"); err == nil {
			t.Error("report kind trade (not the domain's) accepted")
		}
		if err := set("orders", "filled_quantity", "11", "id = ?", o.ID.String()); err == nil {
			t.Error("a filled quantity above the quantity (10) was accepted")
		}
	})

	t.Run("create after close fails", func(t *testing.T) {
		db := open(t)
		db.Close()
		if err := db.Create(ctx, newOrder(t, t0, false)); err == nil {
			t.Error("Create after Close succeeded")
		}
	})

	t.Run("lifecycle", func(t *testing.T) { runLifecycleSuite(t, open) })
	t.Run("accounts", func(t *testing.T) { runAccountSuite(t, open) })
	t.Run("events", func(t *testing.T) { runEventSuite(t, open) })

	t.Run("migrate is idempotent", func(t *testing.T) {
		db := open(t)
		mustCreate(t, db, newOrder(t, t0, false))
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "orders"); n != 1 {
			t.Errorf("orders after a second migrate = %d; want 1", n)
		}
	})
}

func TestPostgresConcurrentMigrations(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := store.Open(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			errs <- db.Migrate(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent migrate: %v", err)
		}
	}
}

func TestOpenFailsClearly(t *testing.T) {
	_, err := store.Open(ctx, "postgres://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if msg := err.Error(); !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, "secret") {
		t.Errorf("error = %q; want it to name the server and hide the password", msg)
	}
}
