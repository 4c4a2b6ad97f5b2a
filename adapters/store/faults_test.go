package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// openThroughProxy opens a fresh PostgreSQL schema through a fault proxy.
func openThroughProxy(t *testing.T) (*store.DB, *storetest.FaultProxy) {
	t.Helper()
	px, dsn := storetest.NewFaultProxy(t, storetest.PostgresDSN(t))
	return storetest.MustOpen(t, dsn), px
}

// TestPostgresLostCommitAnswers cuts the answer to COMMIT, or holds it back
// while the caller gives up, under every write the store makes, and checks
// that each write reports what was really committed.
func TestPostgresLostCommitAnswers(t *testing.T) {
	t.Run("concurrent creates whose commit answers are dropped all succeed", func(t *testing.T) {
		db, px := openThroughProxy(t)
		px.DropCommitReplies(3)
		const n = 40
		orders := make([]domain.Order, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			orders[i] = newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), i%2 == 0)
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = db.Create(ctx, orders[i]) }()
		}
		wg.Wait()
		if px.Faults() == 0 {
			t.Fatal("no commit answer was dropped: the test tested nothing")
		}
		for i, err := range errs {
			if err != nil {
				t.Errorf("create %d: %v; want nil (the order is stored)", i, err)
			}
		}
		if o, j, e := count(t, db, "orders"), count(t, db, "jobs"), count(t, db, "events"); o != n || j != n || e != n {
			t.Errorf("%d orders, %d jobs, %d events; want %d of each", o, j, e, n)
		}
	})

	t.Run("a batch of creates cut off before COMMIT is written again", func(t *testing.T) {
		db, px := openThroughProxy(t)
		px.CutBeforeCommit(1)
		const n = 40
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := db.Create(ctx, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false)); err != nil {
					t.Errorf("create %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if px.Faults() != 1 {
			t.Errorf("%d faults; want 1", px.Faults())
		}
		if o, j := count(t, db, "orders"), count(t, db, "jobs"); o != n || j != n {
			t.Errorf("%d orders, %d jobs; want %d of each", o, j, n)
		}
	})

	t.Run("a create whose commit answer is held while the caller gives up succeeds", func(t *testing.T) {
		db, px := openThroughProxy(t)
		px.DelayCommitReplies(1, 300*time.Millisecond)
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		o := newOrder(t, t0, false)
		if err := db.Create(cctx, o); err != nil {
			t.Errorf("Create = %v; want nil: the order is committed", err)
		}
		if _, err := db.Order(ctx, testAccount, o.ID); err != nil {
			t.Errorf("order not stored: %v", err)
		}
	})

	t.Run("keyed creates whose commit answers are dropped are created, not replayed", func(t *testing.T) {
		db, px := openThroughProxy(t)
		px.DropCommitReplies(3)
		const n = 20
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false)
				got, replayed, err := db.CreateOnce(ctx, domain.IdempotencyKey(fmt.Sprint("key-", i)), o)
				if err != nil || replayed || got.ID != o.ID {
					t.Errorf("CreateOnce %d = %s, replayed %v, %v; want its own order, created", i, got.ID, replayed, err)
				}
			}()
		}
		wg.Wait()
		if px.Faults() == 0 {
			t.Fatal("no commit answer was dropped")
		}
		if o, j, k := count(t, db, "orders"), count(t, db, "jobs"), count(t, db, "idempotency_keys"); o != n || j != n || k != n {
			t.Errorf("%d orders, %d jobs, %d keys; want %d of each", o, j, k, n)
		}
	})

	t.Run("racing requests with one key whose commit answers are dropped create one order", func(t *testing.T) {
		db, px := openThroughProxy(t)
		px.DropCommitReplies(2)
		const n = 10
		ids := make([]domain.ID, n)
		created := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, replayed, err := db.CreateOnce(ctx, "shared", newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false))
				if err != nil {
					t.Errorf("CreateOnce %d: %v", i, err)
				}
				ids[i], created[i] = got.ID, !replayed
			}()
		}
		wg.Wait()
		first := 0
		for i := range n {
			if ids[i] != ids[0] {
				t.Errorf("request %d got order %s; request 0 got %s", i, ids[i], ids[0])
			}
			if created[i] {
				first++
			}
		}
		if first != 1 || count(t, db, "orders") != 1 {
			t.Errorf("%d requests created an order, %d orders stored; want 1 and 1", first, count(t, db, "orders"))
		}
	})

	t.Run("a keyed create whose commit answer is held while the caller gives up succeeds", func(t *testing.T) {
		db, px := openThroughProxy(t)
		px.DelayCommitReplies(1, 300*time.Millisecond)
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		o := newOrder(t, t0, false)
		got, replayed, err := db.CreateOnce(cctx, "k", o)
		if err != nil || replayed || got.ID != o.ID {
			t.Errorf("CreateOnce = %s, %v, %v; want the order, created: it is committed", got.ID, replayed, err)
		}
		if again, replayed, err := db.CreateOnce(ctx, "k", newOrder(t, t0, false)); err != nil || !replayed || again.ID != o.ID {
			t.Errorf("repeat = %s, %v, %v; want a replay of %s", again.ID, replayed, err, o.ID)
		}
	})

	t.Run("a claim whose commit answer is dropped returns the jobs it leased", func(t *testing.T) {
		db, px := openThroughProxy(t)
		for i := range 5 {
			mustCreate(t, db, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false))
		}
		px.DropCommitReplies(1)
		jobs := mustClaim(t, db, t0.Add(time.Second), 10)
		if len(jobs) != 5 || px.Faults() != 1 {
			t.Errorf("claimed %d jobs with %d faults; want 5 and 1", len(jobs), px.Faults())
		}
		if again := mustClaim(t, db, t0.Add(2*time.Second), 10); len(again) != 0 {
			t.Errorf("a second claim got %d jobs; want 0: they are leased", len(again))
		}
	})

	t.Run("a claim whose commit answer is held while the caller gives up returns its jobs", func(t *testing.T) {
		db, px := openThroughProxy(t)
		for i := range 5 {
			mustCreate(t, db, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false))
		}
		px.DelayCommitReplies(1, 300*time.Millisecond)
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		jobs, err := db.Claim(cctx, ports.Claim{Owner: "test", Now: t0.Add(time.Second), Lease: 30 * time.Second, Limit: 10})
		if err != nil || len(jobs) != 5 {
			t.Errorf("Claim = %d jobs, %v; want all 5 it leased", len(jobs), err)
		}
	})

	t.Run("a claim cut off before COMMIT leases nothing", func(t *testing.T) {
		db, px := openThroughProxy(t)
		for i := range 5 {
			mustCreate(t, db, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false))
		}
		px.CutBeforeCommit(1)
		if jobs, err := db.Claim(ctx, ports.Claim{Owner: "test", Now: t0.Add(time.Second), Lease: 30 * time.Second, Limit: 10}); err == nil || len(jobs) != 0 {
			t.Errorf("Claim = %d jobs, %v; want an error and nothing", len(jobs), err)
		}
		// The server may hold the cut transaction's row locks until it
		// notices the connection is gone; claims skip locked rows meanwhile.
		got := 0
		for deadline := time.Now().Add(10 * time.Second); got < 5 && time.Now().Before(deadline); {
			got += len(mustClaim(t, db, t0.Add(2*time.Second), 10))
			if got < 5 {
				time.Sleep(5 * time.Millisecond)
			}
		}
		if got != 5 {
			t.Errorf("the next claims got %d jobs; want all 5", got)
		}
	})

	t.Run("settles whose commit answers are dropped succeed and are recorded once", func(t *testing.T) {
		db, px := openThroughProxy(t)
		for i := range 3 {
			mustCreate(t, db, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false))
		}
		jobs := mustClaim(t, db, t0.Add(time.Second), 3)
		if len(jobs) != 3 {
			t.Fatalf("claimed %d jobs; want 3", len(jobs))
		}
		placed, retried, rejected := jobs[0], jobs[1], jobs[2]
		due := t0.Add(time.Hour)
		for name, settle := range map[string]func() error{
			"complete": func() error { return settleDone(db, placed, t0.Add(2*time.Second)) },
			"retry":    func() error { return settleRetry(db, retried, due, "try again") },
			"reject":   func() error { return settleRefused(db, rejected, "refused") },
		} {
			before := px.Faults()
			px.DropCommitReplies(1)
			if err := settle(); err != nil {
				t.Errorf("%s: %v; want nil", name, err)
			}
			if px.Faults() != before+1 {
				t.Errorf("%s: no commit answer was dropped", name)
			}
		}
		for _, c := range []struct {
			j      ports.Job
			status domain.Status
			err    string
		}{{placed, domain.Placed, ""}, {retried, domain.Pending, "try again"}, {rejected, domain.Rejected, "refused"}} {
			got, err := db.Order(ctx, testAccount, c.j.Order.ID)
			if err != nil || got.Status != c.status || got.LastError != c.err || got.PlacementAttempts != 1 {
				t.Errorf("order %s: %+v, %v; want %s, last error %q, 1 attempt", c.j.Order.ID, got, err, c.status, c.err)
			}
		}
		if jobs := mustClaim(t, db, due, 10); len(jobs) != 1 || jobs[0].Order.ID != retried.Order.ID {
			t.Errorf("due at the retry time: %d jobs; want the retried one alone", len(jobs))
		}
		// Three created, one placed, one rejected: each once.
		if n := count(t, db, "events"); n != 5 {
			t.Errorf("%d events; want 5, none written twice", n)
		}
	})

	t.Run("deliveries whose claim and settle commit answers are dropped are leased and settled once", func(t *testing.T) {
		db, px := openThroughProxy(t)
		mustWebhook(t, db, testAccount, t0)
		for i := range 3 {
			mustCreate(t, db, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false))
		}
		sequence(t, db)
		now := t0.Add(time.Hour)
		px.DropCommitReplies(1)
		ds := claimDeliveries(t, db, "a", now, 10, 10)
		if len(ds) != 3 || px.Faults() != 1 {
			t.Fatalf("claim with its commit answer dropped got %d after %d faults; want 3 after 1", len(ds), px.Faults())
		}
		due := now.Add(time.Minute)
		for i, o := range []ports.DeliveryOutcome{
			{Result: ports.Delivered, At: now},
			{Result: ports.RetryDelivery, At: now, Due: due, Cause: "HTTP 503"},
			{Result: ports.EndpointGone, At: now},
		} {
			before := px.Faults()
			px.DropCommitReplies(1)
			if err := db.SettleDelivery(ctx, ds[i], o); err != nil {
				t.Errorf("settle %d with its commit answer dropped: %v; want nil", o.Result, err)
			}
			if px.Faults() != before+1 {
				t.Errorf("settle %d: no commit answer was dropped", o.Result)
			}
			if i == 1 {
				if again := claimDeliveries(t, db, "b", due, 10, 10); len(again) != 1 || again[0].Attempts != 1 {
					t.Fatalf("after the retry: claimed %d; want 1 with 1 attempt", len(again))
				} else {
					ds[2] = again[0] // the lease the 410 is settled under
				}
			}
		}
		if hooks, _ := db.Webhooks(ctx, testAccount); len(hooks) != 1 || !hooks[0].DisabledAt.Equal(now) {
			t.Errorf("webhook after 410: %+v; want disabled at %v", hooks, now)
		}
		if n := count(t, db, "webhook_deliveries"); n != 0 {
			t.Errorf("%d deliveries left; want 0", n)
		}
	})
}

// TestPostgresLostCommitAnswersOfTheFeed drops the answer to the COMMIT of
// a batch of reports, and of a cancel: each reports what was committed,
// and nothing is applied twice.
func TestPostgresLostCommitAnswersOfTheFeed(t *testing.T) {
	db, px := openThroughProxy(t)
	o := newOrder(t, t0, false)
	mustCreate(t, db, o)
	if err := settleDone(db, mustClaim(t, db, t0, 1)[0], t0); err != nil {
		t.Fatal(err)
	}
	b := ports.Batch{Session: "s1", After: 0, At: t0, Reports: []domain.Report{
		report(1, o, domain.ReportAck, 0, 0, t0), report(2, o, domain.ReportPartialFill, 4, 10000, t0),
	}}
	px.DropCommitReplies(1)
	if _, err := db.ApplyReports(ctx, b); err != nil {
		t.Errorf("ApplyReports with its commit answer dropped = %v; want nil: it is applied", err)
	}
	if got, _ := db.Order(ctx, testAccount, o.ID); got.FilledQuantity() != 4 || px.Faults() != 1 {
		t.Errorf("filled %d after %d faults; want 4 after 1", got.FilledQuantity(), px.Faults())
	}
	px.DropCommitReplies(1)
	got, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(time.Second)))
	if err != nil || got.Status != domain.PendingCancel {
		t.Errorf("Cancel with its commit answer dropped = %s, %v; want pending_cancel", got.Status, err)
	}
	if n := count(t, db, "jobs"); n != 1 {
		t.Errorf("%d jobs; want the one cancel job", n)
	}
	// created, placed, partially filled, pending cancel: each once.
	if n := count(t, db, "events"); n != 4 {
		t.Errorf("%d events; want 4, none written twice", n)
	}
}

// TestCancelledCallersLearnTheTruth cancels the callers of creates and
// claims at moments spread over their run: each call either wrote nothing
// and says so, or reports what it wrote.
func TestCancelledCallersLearnTheTruth(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *store.DB{"sqlite": MustOpenSQLite, "postgres": MustOpenPostgres} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			for i := range 60 {
				cctx, cancel := context.WithTimeout(ctx, time.Duration(i)*50*time.Microsecond)
				o := newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false)
				var err error
				if i%2 == 0 {
					err = db.Create(cctx, o)
				} else {
					_, _, err = db.CreateOnce(cctx, domain.IdempotencyKey(fmt.Sprint("k", i)), o)
				}
				cancel()
				_, rerr := db.Order(ctx, testAccount, o.ID)
				if stored := rerr == nil; stored != (err == nil) {
					t.Errorf("call %d: error %v, stored %v: the answer does not match the database", i, err, stored)
				}
			}
			for i := range 20 {
				mustCreate(t, db, newOrder(t, t0.Add(time.Hour+time.Duration(i)*time.Millisecond), false))
			}
			leased := 0
			for i := range 40 {
				cctx, cancel := context.WithTimeout(ctx, time.Duration(i)*50*time.Microsecond)
				jobs, err := db.Claim(cctx, ports.Claim{Owner: "test", Now: t0.Add(2 * time.Hour), Lease: time.Hour, Limit: 1})
				cancel()
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("claim %d: %v", i, err)
				}
				leased += len(jobs)
			}
			rest := mustClaim(t, db, t0.Add(2*time.Hour), 100)
			if leased+len(rest) != count(t, db, "jobs") {
				t.Errorf("claims returned %d jobs and %d were left; %d exist: some were leased and never returned", leased, len(rest), count(t, db, "jobs"))
			}
		})
	}
}
