package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// requestCancel is the service's cancel: the domain's rule at time at.
func requestCancel(at time.Time) ports.CancelFunc {
	return func(o domain.Order, sent bool) (domain.Order, []domain.Event, error) {
		return domain.RequestCancel(o, sent, at)
	}
}

// report builds an execution report of session "s1".
func report(seq int64, o domain.Order, kind domain.ReportKind, qty int64, cents int64, at time.Time) domain.Report {
	r := domain.Report{Seq: seq, ExecID: fmt.Sprintf("s1-%d", seq), OrderID: o.ID, Kind: kind, LastQty: qty, At: at}
	if qty > 0 {
		r.LastPrice = domain.PriceFromCents(cents)
	}
	return r
}

// runLifecycleSuite is the part of the contract suite about an order's
// life after its placement: cancels and the exchange's reports.
func runLifecycleSuite(t *testing.T, open func(testing.TB) *store.DB) {
	t.Run("a cancel before the placement was ever sent cancels at once and drops the job", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		got, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(time.Second)))
		if err != nil || got.Status != domain.Canceled {
			t.Fatalf("Cancel = %s, %v; want canceled", got.Status, err)
		}
		if jobs := mustClaim(t, db, t0.Add(time.Hour), 10); len(jobs) != 0 {
			t.Errorf("%d jobs claimable after a local cancel; want 0: the exchange must never see it", len(jobs))
		}
		if stored, _ := db.Order(ctx, testAccount, o.ID); stored.Status != domain.Canceled || !stored.UpdatedAt.Equal(t0.Add(time.Second)) {
			t.Errorf("stored: %s updated %v; want canceled at %v", stored.Status, stored.UpdatedAt, t0.Add(time.Second))
		}
		if _, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(2*time.Second))); err != nil {
			t.Errorf("cancel again: %v; want nil (no change)", err)
		}
	})

	t.Run("a cancel while the placement is in flight waits for the acknowledgement", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		place := mustClaim(t, db, t0, 1)[0] // the call is under way
		got, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(time.Second)))
		if err != nil || got.Status != domain.PendingCancel {
			t.Fatalf("Cancel = %s, %v; want pending_cancel", got.Status, err)
		}
		if jobs := mustClaim(t, db, t0.Add(10*time.Second), 10); len(jobs) != 0 {
			t.Fatalf("claimable before the acknowledgement (the placement's lease runs): %+v; want nothing", jobs)
		}
		if err := settleDone(db, place, t0.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		stored, _ := db.Order(ctx, testAccount, o.ID)
		if stored.Status != domain.PendingCancel || !stored.PlacedAt.Equal(t0.Add(2*time.Second)) {
			t.Errorf("after the acknowledgement: %s placed at %v; want pending_cancel, placed at %v", stored.Status, stored.PlacedAt, t0.Add(2*time.Second))
		}
		jobs := mustClaim(t, db, t0.Add(3*time.Second), 10)
		if len(jobs) != 1 || jobs[0].Kind != ports.JobCancel || jobs[0].Order.ID != o.ID {
			t.Fatalf("claimable after the acknowledgement: %+v; want its cancel job", jobs)
		}
		if err := settleDone(db, jobs[0], t0.Add(4*time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "jobs"); n != 0 {
			t.Errorf("%d jobs left once the cancel went out; want 0", n)
		}
	})

	t.Run("a cancel of a working order is due at once, and asking again changes nothing", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, true)
		mustCreate(t, db, o)
		if err := settleDone(db, mustClaim(t, db, t0, 1)[0], t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		first, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(2*time.Second)))
		if err != nil || first.Status != domain.PendingCancel {
			t.Fatalf("Cancel = %s, %v; want pending_cancel", first.Status, err)
		}
		again, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(3*time.Second)))
		if err != nil || !again.UpdatedAt.Equal(first.UpdatedAt) {
			t.Errorf("cancel again = updated %v, %v; want no change (updated %v)", again.UpdatedAt, err, first.UpdatedAt)
		}
		jobs := mustClaim(t, db, t0.Add(2*time.Second), 10)
		if len(jobs) != 1 || jobs[0].Kind != ports.JobCancel {
			t.Errorf("claimable: %+v; want one cancel job", jobs)
		}
	})

	t.Run("cancels of unknown and finished orders are refused and change nothing", func(t *testing.T) {
		db := open(t)
		if _, err := db.Cancel(ctx, testAccount, domain.NewID(t0), requestCancel(t0)); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("cancel of an unknown order: %v; want ErrNotFound", err)
		}
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		if err := settleRefused(db, mustClaim(t, db, t0, 1)[0], "unknown instrument"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(time.Second))); !errors.Is(err, domain.ErrTransition) {
			t.Errorf("cancel of a rejected order: %v; want ErrTransition", err)
		}
		if n := count(t, db, "jobs"); n != 0 {
			t.Errorf("%d jobs; want 0", n)
		}
	})

	t.Run("a refused placement ends a pending cancel with it", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		place := mustClaim(t, db, t0, 1)[0]
		if _, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(time.Second))); err != nil {
			t.Fatal(err)
		}
		if err := settleRefused(db, place, "unknown instrument"); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Order(ctx, testAccount, o.ID); got.Status != domain.Rejected || count(t, db, "jobs") != 0 {
			t.Errorf("after the refusal: %s with %d jobs; want rejected and none", got.Status, count(t, db, "jobs"))
		}
	})

	t.Run("reports are applied in one batch with their fills, exactly", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false) // market buy of 10
		mustCreate(t, db, o)
		b := ports.Batch{Session: "s1", After: 0, At: t0.Add(time.Minute), Reports: []domain.Report{
			report(1, o, domain.ReportAck, 0, 0, t0.Add(time.Second)),
			report(2, o, domain.ReportPartialFill, 4, 10001, t0.Add(2*time.Second)),
			report(3, o, domain.ReportFill, 6, 10000, t0.Add(3*time.Second)),
		}}
		applied, err := db.ApplyReports(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		want := ports.Applied{Kinds: map[domain.ReportKind]int{domain.ReportAck: 1, domain.ReportPartialFill: 1, domain.ReportFill: 1}}
		if diff := cmp.Diff(want, applied); diff != "" {
			t.Errorf("applied (-want +got):\n%s", diff)
		}
		got, err := db.Order(ctx, testAccount, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		avg, _ := got.AverageFillPrice()
		if got.Status != domain.Filled || got.FilledQuantity() != 10 || avg.String() != "100.004" || !got.UpdatedAt.Equal(t0.Add(3*time.Second)) {
			t.Errorf("order: %s, filled %d at %s, updated %v; want filled, 10 at 100.004, updated at the last fill", got.Status, got.FilledQuantity(), avg, got.UpdatedAt)
		}
		wantFills := []domain.Fill{
			{ExecID: "s1-2", Quantity: 4, Price: 10001, ExecutedAt: t0.Add(2 * time.Second)},
			{ExecID: "s1-3", Quantity: 6, Price: 10000, ExecutedAt: t0.Add(3 * time.Second)},
		}
		if diff := cmp.Diff(wantFills, got.Fills); diff != "" {
			t.Errorf("fills (-want +got):\n%s", diff)
		}
		if s, seq, err := db.FeedPosition(ctx, ""); s != "s1" || seq != 3 || err != nil {
			t.Errorf("FeedPosition = %s, %d, %v; want s1, 3", s, seq, err)
		}
	})

	t.Run("a batch that does not follow the position is refused whole", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		first := ports.Batch{Session: "s1", After: 0, At: t0, Reports: []domain.Report{report(1, o, domain.ReportAck, 0, 0, t0)}}
		if _, err := db.ApplyReports(ctx, first); err != nil {
			t.Fatal(err)
		}
		// Another ingester, not knowing report 1 was applied, applies 1 and 2.
		stale := ports.Batch{Session: "s1", After: 0, At: t0, Reports: []domain.Report{
			report(1, o, domain.ReportAck, 0, 0, t0), report(2, o, domain.ReportPartialFill, 3, 10000, t0),
		}}
		if _, err := db.ApplyReports(ctx, stale); !errors.Is(err, domain.ErrLeaseLost) {
			t.Errorf("stale batch: %v; want ErrLeaseLost", err)
		}
		if got, _ := db.Order(ctx, testAccount, o.ID); got.FilledQuantity() != 0 {
			t.Errorf("a refused batch filled %d; want nothing applied", got.FilledQuantity())
		}
		next := ports.Batch{Session: "s1", After: 1, At: t0, Reports: []domain.Report{report(2, o, domain.ReportPartialFill, 3, 10000, t0)}}
		if _, err := db.ApplyReports(ctx, next); err != nil {
			t.Errorf("the batch that follows: %v", err)
		}
	})

	t.Run("a repeated execution is a duplicate; reports about unknown orders are kept aside", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		ghost := newOrder(t, t0.Add(time.Second), false) // never stored
		fill := report(1, o, domain.ReportPartialFill, 4, 10000, t0)
		again := fill
		again.Seq = 2                                         // the same execution under a new number
		over := report(3, o, domain.ReportFill, 7, 10000, t0) // 4 + 7 > 10
		b := ports.Batch{Session: "s1", After: 0, At: t0, Reports: []domain.Report{fill, again, over, report(4, ghost, domain.ReportAck, 0, 0, t0)}}
		applied, err := db.ApplyReports(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if applied.Kinds[domain.ReportPartialFill] != 1 || applied.Duplicates != 1 || applied.Unknown != 2 {
			t.Errorf("applied = %+v; want 1 fill, 1 duplicate, 2 kept aside", applied)
		}
		if got, _ := db.Order(ctx, testAccount, o.ID); got.FilledQuantity() != 4 {
			t.Errorf("filled %d; want 4", got.FilledQuantity())
		}
		if n := count(t, db, "unknown_reports"); n != 2 {
			t.Errorf("%d reports kept aside; want 2 (the unknown order's and the overfill)", n)
		}
		if _, seq, _ := db.FeedPosition(ctx, "s1"); seq != 4 {
			t.Errorf("position %d; want 4: reports kept aside are passed, not blocking", seq)
		}
	})

	t.Run("reads see an order and its fills from one moment while fills commit", func(t *testing.T) {
		db := open(t)
		const n, rounds = 10, 30
		orders := make([]domain.Order, n)
		for i := range orders {
			p := domain.PriceFromCents(10000)
			o, err := domain.New(domain.NewID(t0.Add(time.Duration(i)*time.Millisecond)), t0, domain.Spec{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: &p, Quantity: rounds})
			if err != nil {
				t.Fatal(err)
			}
			o.Account = testAccount
			orders[i] = o
			mustCreate(t, db, o)
		}
		done := make(chan struct{})
		errs := make(chan error, 1)
		go func() {
			defer close(done)
			var seq int64
			for range rounds {
				b := ports.Batch{Session: "s1", After: seq, At: t0}
				for _, o := range orders {
					seq++
					b.Reports = append(b.Reports, report(seq, o, domain.ReportPartialFill, 1, 10000, t0))
				}
				if _, err := db.ApplyReports(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		}()
		reads := 0
		for running := true; running; reads++ {
			select {
			case <-done:
				running = false
			default:
			}
			if _, err := db.List(ctx, ports.ListQuery{Account: testAccount, Limit: n}); err != nil {
				t.Fatalf("List while fills commit (read %d): %v", reads, err)
			}
			if _, err := db.Order(ctx, testAccount, orders[reads%n].ID); err != nil {
				t.Fatalf("Order while fills commit (read %d): %v", reads, err)
			}
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		t.Logf("%d consistent reads while %d fills committed", 2*reads, n*rounds)
	})

	t.Run("the latest session's position is the feed's", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		for i, s := range []string{"old", "new"} {
			r := report(1, o, domain.ReportAck, 0, 0, t0)
			r.ExecID = s + "-1"
			if _, err := db.ApplyReports(ctx, ports.Batch{Session: s, After: 0, At: t0.Add(time.Duration(i) * time.Second), Reports: []domain.Report{r}}); err != nil {
				t.Fatal(err)
			}
		}
		if s, seq, err := db.FeedPosition(ctx, ""); s != "new" || seq != 1 || err != nil {
			t.Errorf("FeedPosition = %s, %d, %v; want new, 1", s, seq, err)
		}
		if s, seq, err := db.FeedPosition(ctx, "old"); s != "old" || seq != 1 || err != nil {
			t.Errorf("FeedPosition(old) = %s, %d, %v; want old, 1", s, seq, err)
		}
		if s, seq, err := db.FeedPosition(ctx, "never"); s != "never" || seq != 0 || err != nil {
			t.Errorf("FeedPosition(never) = %s, %d, %v; want never, 0", s, seq, err)
		}
	})

	t.Run("one lease holder at a time, until the lease runs out", func(t *testing.T) {
		db := open(t)
		acquire := func(owner string, ttl time.Duration) bool {
			t.Helper()
			ok, err := db.AcquireLease(ctx, "ingester:sim", owner, ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !acquire("a", time.Minute) || acquire("b", time.Minute) || !acquire("a", 200*time.Millisecond) {
			t.Fatal("want a to take and renew the lease while b is refused")
		}
		deadline := time.Now().Add(10 * time.Second)
		for !acquire("b", time.Minute) {
			if time.Now().After(deadline) {
				t.Fatal("b did not take the lease over after a's ran out")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if acquire("a", time.Minute) {
			t.Error("a renewed a lease b holds")
		}
		if err := db.ReleaseLease(ctx, "ingester:sim", "a"); err != nil || acquire("a", time.Minute) {
			t.Errorf("a released b's lease (%v)", err)
		}
		if err := db.ReleaseLease(ctx, "ingester:sim", "b"); err != nil || !acquire("a", time.Minute) {
			t.Errorf("after b released: a could not take the lease (%v)", err)
		}
	})
}
