package store_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// openNamed opens a fresh PostgreSQL schema whose sessions carry an
// application name of their own, so that the test can find them in
// pg_stat_activity.
func openNamed(t *testing.T) (*store.DB, string) {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	app := "ordergate_locks_" + hex.EncodeToString(b[:])
	u, err := url.Parse(storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return storetest.MustOpen(t, u.String()), app
}

// waitForLockWaiters waits until n sessions of the application wait for a
// lock.
func waitForLockWaiters(t *testing.T, db *store.DB, app string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		if err := db.Bun().QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = ? AND wait_event_type = 'Lock'", app).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions waiting for a lock after 10 s; want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPostgresSettlesLockTheOrderBeforeItsJob lines up, on one order, an
// acknowledgement from a job's old holder and a rejection from its new one
// behind a lock another session holds on the order, then lets them go. Were
// one of them to lock the job first, each would wait for the other and
// PostgreSQL would abort one as a deadlock. The transactions are run
// without the retry that would hide such an abort.
func TestPostgresSettlesLockTheOrderBeforeItsJob(t *testing.T) {
	db, app := openNamed(t)

	o, err := domain.New(domain.NewID(t0), t0, domain.Spec{Type: domain.Market, Side: domain.Buy, Instrument: "US0378331005", Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	o.Account = testAccount
	if err := db.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	claim := func(now time.Time) ports.Job {
		jobs, err := db.Claim(ctx, ports.Claim{Owner: "test", Now: now, Lease: 30 * time.Second, Limit: 1})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim: %d jobs, %v", len(jobs), err)
		}
		return jobs[0]
	}
	old, fresh := claim(t0), claim(t0.Add(time.Minute))

	// Another session holds the order's row lock.
	admin, err := db.Bun().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "SELECT 1 FROM orders WHERE id = ? FOR UPDATE", o.ID.String()); err != nil {
		t.Fatal(err)
	}
	complete, reject := make(chan error, 1), make(chan error, 1)
	go func() { complete <- db.SettleTx(ctx, old, ports.Outcome{Result: ports.Done, At: t0}) }()
	waitForLockWaiters(t, db, app, 1)
	go func() {
		reject <- db.SettleTx(ctx, fresh, ports.Outcome{Result: ports.Refused, At: t0, Cause: "refused"})
	}()
	waitForLockWaiters(t, db, app, 2)
	if _, err := admin.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := <-complete; err != nil {
		t.Errorf("acknowledgement: %v; want nil", err)
	}
	if err := <-reject; !errors.Is(err, domain.ErrLeaseLost) {
		t.Errorf("rejection: %v; want ErrLeaseLost (never a deadlock)", err)
	}
	got, err := db.Order(ctx, testAccount, o.ID)
	if err != nil || got.Status != domain.Placed {
		t.Errorf("order: %s, %v; want placed", got.Status, err)
	}
}

// TestPostgresCancelWaitsForAClaimUnderWay cancels an order while a claim
// of its placement job is being committed: the cancel waits for the claim
// and counts the placement as sent (pending_cancel), instead of canceling
// at once an order whose placement is about to go out.
func TestPostgresCancelWaitsForAClaimUnderWay(t *testing.T) {
	db, app := openNamed(t)
	o := newOrder(t, t0, false)
	mustCreate(t, db, o)

	// A claim under way: its update of the job is not committed yet.
	claim, err := db.Bun().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer claim.Close()
	if _, err := claim.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := claim.ExecContext(ctx, "UPDATE jobs SET attempts = attempts + 1, due_at = ? WHERE order_id = ?", t0.Add(time.Minute), o.ID.String()); err != nil {
		t.Fatal(err)
	}
	done := make(chan domain.Order, 1)
	go func() {
		got, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(time.Second)))
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	waitForLockWaiters(t, db, app, 1) // the cancel waits for the claim
	if _, err := claim.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got.Status != domain.PendingCancel {
		t.Errorf("cancel racing a claim = %s; want pending_cancel: the placement is going out", got.Status)
	}
	if n := count(t, db, "jobs"); n != 2 {
		t.Errorf("%d jobs; want the placement's and the cancel's", n)
	}
}
