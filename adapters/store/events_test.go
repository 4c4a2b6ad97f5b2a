package store_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// sequence numbers the events committed so far (a no-op on SQLite).
func sequence(t testing.TB, db *store.DB) {
	t.Helper()
	if _, err := db.SequenceEvents(ctx); err != nil {
		t.Fatal(err)
	}
}

// allEvents sequences and returns every event of account ("" for all).
func allEvents(t testing.TB, db *store.DB, account domain.Account) []domain.OrderEvent {
	t.Helper()
	sequence(t, db)
	evs, err := db.EventsAfter(ctx, ports.EventQuery{Account: account, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func types(evs []domain.OrderEvent) []domain.EventType {
	out := make([]domain.EventType, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func mustWebhook(t testing.TB, db *store.DB, account domain.Account, at time.Time) domain.Webhook {
	t.Helper()
	w, err := domain.NewWebhook(account, "https://hooks.example.com/"+string(account), at)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	return w
}

func claimDeliveries(t testing.TB, db *store.DB, owner string, now time.Time, limit, per int) []ports.Delivery {
	t.Helper()
	ds, err := db.ClaimDeliveries(ctx, ports.DeliveryClaim{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Limit: limit, PerEndpoint: per})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func perEndpoint(ds []ports.Delivery) map[domain.WebhookID]int {
	n := map[domain.WebhookID]int{}
	for _, d := range ds {
		n[d.Webhook.ID]++
	}
	return n
}

// ackAndFill applies session s1's first batch: f acknowledged, then
// filled 4 at 100.01 and 6 at 100.00, three events in one transaction.
func ackAndFill(t testing.TB, db *store.DB, f domain.Order) {
	t.Helper()
	if _, err := db.ApplyReports(ctx, ports.Batch{Session: "s1", At: t0.Add(time.Minute), Reports: []domain.Report{
		report(1, f, domain.ReportAck, 0, 0, t0.Add(4*time.Second)),
		report(2, f, domain.ReportPartialFill, 4, 10001, t0.Add(5*time.Second)),
		report(3, f, domain.ReportFill, 6, 10000, t0.Add(6*time.Second)),
	}}); err != nil {
		t.Fatal(err)
	}
}

// runEventSuite is the part of the contract suite about events, webhooks
// and their deliveries.
func runEventSuite(t *testing.T, open func(testing.TB) *store.DB) {
	t.Run("every change writes its events, each with the order as after it", func(t *testing.T) {
		db := open(t)
		// Canceled locally.
		a := newOrder(t, t0, false)
		mustCreate(t, db, a)
		if _, err := db.Cancel(ctx, testAccount, a.ID, requestCancel(t0.Add(time.Second))); err != nil {
			t.Fatal(err)
		}
		// Placed by the dispatcher, then a cancel requested.
		b := newOrder(t, t0.Add(time.Millisecond), false)
		if _, _, err := db.CreateOnce(ctx, "key-b", b); err != nil {
			t.Fatal(err)
		}
		for _, j := range mustClaim(t, db, t0.Add(time.Minute), 10) {
			if j.Order.ID != b.ID {
				continue
			}
			if err := settleDone(db, j, t0.Add(2*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Cancel(ctx, testAccount, b.ID, requestCancel(t0.Add(3*time.Second))); err != nil {
			t.Fatal(err)
		}
		// Rejected by the dispatcher.
		c := newOrder(t, t0.Add(2*time.Millisecond), false)
		mustCreate(t, db, c)
		for _, j := range mustClaim(t, db, t0.Add(time.Minute), 10) {
			if j.Order.ID == c.ID {
				if err := settleRefused(db, j, "unknown instrument"); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Acknowledged and filled twice by the feed, in one batch.
		f := newOrder(t, t0.Add(3*time.Millisecond), false)
		mustCreate(t, db, f)
		ackAndFill(t, db, f)

		byOrder := map[domain.ID][]domain.OrderEvent{}
		evs := allEvents(t, db, "")
		for i, e := range evs {
			if e.ID != domain.EventID(i+1) {
				t.Errorf("event %d has ID %d; want IDs 1, 2, 3, ...", i, e.ID)
			}
			if e.Account != testAccount || e.Order.Account != testAccount {
				t.Errorf("event %d of account %q, order of %q; want %q", e.ID, e.Account, e.Order.Account, testAccount)
			}
			byOrder[e.Order.ID] = append(byOrder[e.Order.ID], e)
		}
		want := map[domain.ID][]domain.EventType{
			a.ID: {domain.EventCreated, domain.EventCanceled},
			b.ID: {domain.EventCreated, domain.EventPlaced, domain.EventPendingCancel},
			c.ID: {domain.EventCreated, domain.EventRejected},
			f.ID: {domain.EventCreated, domain.EventPlaced, domain.EventPartiallyFilled, domain.EventFilled},
		}
		for id, w := range want {
			if diff := cmp.Diff(w, types(byOrder[id])); diff != "" {
				t.Errorf("events of order %s (-want +got):\n%s", id, diff)
			}
		}
		// Each event's order is the order as after its own change.
		fe := byOrder[f.ID]
		if len(fe) == 4 {
			for i, w := range []struct {
				status domain.Status
				filled int64
				fill   string
			}{{domain.Pending, 0, ""}, {domain.Placed, 0, ""}, {domain.PartiallyFilled, 4, "s1-2"}, {domain.Filled, 10, "s1-3"}} {
				e := fe[i]
				fill := ""
				if e.Fill != nil {
					fill = e.Fill.ExecID
				}
				// The sums of the fills so far, not the fills themselves.
				if e.Order.Status != w.status || e.Filled != w.filled || e.Order.Fills != nil || fill != w.fill {
					t.Errorf("event %d (%s): order %s filled %d with %d fills, fill %q; want %s, %d, no fills, fill %q", i, e.Type, e.Order.Status, e.Filled, len(e.Order.Fills), fill, w.status, w.filled, w.fill)
				}
				if avg := e.AverageFillPrice; (w.filled == 0) != (avg == nil) || (w.filled == 4 && *avg != 100_010_000) || (w.filled == 10 && *avg != 100_004_000) {
					t.Errorf("event %d (%s): average fill price %v", i, e.Type, avg)
				}
			}
			if !fe[2].OccurredAt.Equal(t0.Add(5*time.Second)) || fe[2].Fill.Price != 10001 || fe[2].Fill.Quantity != 4 {
				t.Errorf("partial fill event: at %v, fill %+v; want at %v, 4 at 100.01", fe[2].OccurredAt, fe[2].Fill, t0.Add(5*time.Second))
			}
		}
		// The last event of each order holds exactly the stored order, and
		// what its fills add up to.
		for id, es := range byOrder {
			stored, err := db.Order(ctx, testAccount, id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(domain.NewOrderEvent(es[len(es)-1].Type, stored, es[len(es)-1].Fill), es[len(es)-1], cmpopts.IgnoreFields(domain.OrderEvent{}, "ID", "Account", "OccurredAt")); diff != "" {
				t.Errorf("order %s in its last event (-stored +event):\n%s", id, diff)
			}
		}
		if got := byOrder[a.ID][0].Order; got.Status != domain.Pending || !got.UpdatedAt.Equal(a.CreatedAt) || !byOrder[a.ID][0].OccurredAt.Equal(a.CreatedAt) {
			t.Errorf("created event: %s updated %v; want the new order", got.Status, got.UpdatedAt)
		}
		if last, err := db.LastEventID(ctx); err != nil || last != domain.EventID(len(evs)) {
			t.Errorf("LastEventID = %d, %v; want %d", last, err, len(evs))
		}
	})

	t.Run("an event stores what the fills add up to, not the fills: its size does not grow with them", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		o.Quantity = 1000
		mustCreate(t, db, o)
		reports := []domain.Report{report(1, o, domain.ReportAck, 0, 0, t0.Add(time.Second))}
		for i := range 99 {
			reports = append(reports, report(int64(i+2), o, domain.ReportPartialFill, 10, 10000+int64(i%2), t0.Add(time.Duration(i+2)*time.Second)))
		}
		if _, err := db.ApplyReports(ctx, ports.Batch{Session: "s1", At: t0.Add(time.Hour), Reports: reports}); err != nil {
			t.Fatal(err)
		}
		var sizes []int
		if err := db.Bun().NewRaw(`SELECT length(order_doc) FROM events WHERE type = 'order.partially_filled' ORDER BY seq`).Scan(ctx, &sizes); err != nil {
			t.Fatal(err)
		}
		if len(sizes) != 99 || slices.Max(sizes)-slices.Min(sizes) > 16 {
			t.Errorf("%d fill events, order_doc sizes %d to %d bytes; want 99, each about the same", len(sizes), slices.Min(sizes), slices.Max(sizes))
		}
		evs := allEvents(t, db, testAccount)
		last := evs[len(evs)-1]
		if last.Filled != 990 || last.AverageFillPrice == nil || *last.AverageFillPrice != 100_004_949 {
			t.Errorf("last event: filled %d, average %v; want 990 at 100.004949", last.Filled, last.AverageFillPrice)
		}
	})

	t.Run("fills applied batch after batch: each event's sums are the stored fills' sums", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		o.Quantity = 1000
		mustCreate(t, db, o)
		if _, err := db.ApplyReports(ctx, ports.Batch{Session: "s1", At: t0, Reports: []domain.Report{report(1, o, domain.ReportAck, 0, 0, t0)}}); err != nil {
			t.Fatal(err)
		}
		// Prices whose mean does not come out even in cents.
		for i, f := range []struct{ qty, cents int64 }{{3, 10001}, {7, 10000}, {1, 9999}, {13, 10007}, {2, 10003}} {
			seq := int64(i + 2)
			if _, err := db.ApplyReports(ctx, ports.Batch{Session: "s1", After: seq - 1, At: t0, Reports: []domain.Report{
				report(seq, o, domain.ReportPartialFill, f.qty, f.cents, t0.Add(time.Duration(seq)*time.Second)),
			}}); err != nil {
				t.Fatal(err)
			}
			stored, err := db.Order(ctx, testAccount, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			evs := allEvents(t, db, testAccount)
			got, want := evs[len(evs)-1], domain.NewOrderEvent(domain.EventPartiallyFilled, stored, nil)
			if got.Filled != want.Filled || got.AverageFillPrice == nil || *got.AverageFillPrice != *want.AverageFillPrice || len(stored.Fills) != i+1 {
				t.Errorf("after fill %d: event filled %d at %v; stored order %d at %v with %d fills", i+1, got.Filled, got.AverageFillPrice, want.Filled, *want.AverageFillPrice, len(stored.Fills))
			}
		}
	})

	t.Run("a failed change writes no events, and a failed event write no change", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		// A cancel whose rule fails.
		boom := errors.New("boom")
		if _, err := db.Cancel(ctx, testAccount, o.ID, func(o domain.Order, _ bool) (domain.Order, []domain.Event, error) {
			return o, nil, boom
		}); !errors.Is(err, boom) {
			t.Fatalf("Cancel = %v; want boom", err)
		}
		// A batch that does not follow the feed's position.
		if _, err := db.ApplyReports(ctx, ports.Batch{Session: "s1", After: 5, At: t0, Reports: []domain.Report{
			report(6, o, domain.ReportAck, 0, 0, t0.Add(time.Second)),
		}}); !errors.Is(err, domain.ErrLeaseLost) {
			t.Fatalf("ApplyReports = %v; want ErrLeaseLost", err)
		}
		if n := count(t, db, "events"); n != 1 {
			t.Errorf("events = %d; want 1 (the order's creation)", n)
		}
		// The event insert fails: nothing of the order is written either.
		if _, err := db.Bun().NewRaw("CREATE UNIQUE INDEX events_fail ON events (account)").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		second := newOrder(t, t0, true)
		if err := db.Create(ctx, second); err == nil {
			t.Fatal("Create succeeded; want its event insert to fail")
		}
		if _, err := db.Order(ctx, testAccount, second.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("order whose event failed: %v; want not found", err)
		}
		if _, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(time.Second))); err == nil {
			t.Error("Cancel succeeded; want its event insert to fail")
		}
		if got, _ := db.Order(ctx, testAccount, o.ID); got.Status != domain.Pending {
			t.Errorf("order after a cancel whose event failed: %s; want pending", got.Status)
		}
		if n, j := count(t, db, "orders"), count(t, db, "jobs"); n != 1 || j != 1 {
			t.Errorf("orders, jobs = %d, %d; want 1, 1", n, j)
		}
	})

	t.Run("events are read by account, after an ID, in pages", func(t *testing.T) {
		db := open(t)
		for i := range 7 {
			o := newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), i%2 == 0)
			if i%3 == 0 {
				o.Account = "other"
			}
			mustCreate(t, db, o)
			if _, err := db.Cancel(ctx, o.Account, o.ID, requestCancel(t0.Add(time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		all := allEvents(t, db, "")
		if len(all) != 14 {
			t.Fatalf("%d events; want 14", len(all))
		}
		for _, account := range []domain.Account{testAccount, "other", ""} {
			var want []domain.OrderEvent
			for _, e := range all {
				if account == "" || e.Account == account {
					want = append(want, e)
				}
			}
			var got []domain.OrderEvent
			var after domain.EventID
			for page := 0; ; page++ {
				evs, err := db.EventsAfter(ctx, ports.EventQuery{Account: account, After: after, Limit: 3})
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) > 3 {
					t.Fatalf("page of %d; want at most 3", len(evs))
				}
				if len(evs) == 0 {
					break
				}
				got = append(got, evs...)
				after = evs[len(evs)-1].ID
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("account %q paged (-want +got):\n%s", account, diff)
			}
		}
		if _, err := db.EventsAfter(ctx, ports.EventQuery{Limit: 0}); err == nil {
			t.Error("EventsAfter with limit 0 succeeded")
		}
	})

	t.Run("an order's events are its account's alone", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		if _, err := db.Cancel(ctx, testAccount, o.ID, requestCancel(t0.Add(time.Second))); err != nil {
			t.Fatal(err)
		}
		// No SequenceEvents: OrderEvents numbers what it needs.
		evs, err := db.OrderEvents(ctx, testAccount, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]domain.EventType{domain.EventCreated, domain.EventCanceled}, types(evs)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if len(evs) == 2 && (evs[0].ID == 0 || evs[1].ID <= evs[0].ID) {
			t.Errorf("IDs %d, %d; want rising, from 1", evs[0].ID, evs[1].ID)
		}
		for _, q := range []struct {
			account domain.Account
			id      domain.ID
		}{{"other", o.ID}, {testAccount, domain.NewID(t0)}} {
			if _, err := db.OrderEvents(ctx, q.account, q.id); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("OrderEvents(%s, %s) = %v; want ErrNotFound", q.account, q.id, err)
			}
		}
	})

	t.Run("purged events are gone, and their IDs never come back", func(t *testing.T) {
		db := open(t)
		for i := range 3 {
			mustCreate(t, db, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false))
		}
		hook := mustWebhook(t, db, testAccount, t0)
		late := t0.Add(10 * 24 * time.Hour)
		for i := range 2 {
			mustCreate(t, db, newOrder(t, late.Add(time.Duration(i)*time.Millisecond), false))
		}
		all := allEvents(t, db, "")
		if n := count(t, db, "webhook_deliveries"); n != 2 {
			t.Fatalf("deliveries = %d; want 2 (the events after the webhook)", n)
		}
		n, err := db.PurgeEvents(ctx, t0.Add(24*time.Hour))
		if err != nil || n != 3 {
			t.Fatalf("PurgeEvents = %d, %v; want 3", n, err)
		}
		if _, err := db.EventsAfter(ctx, ports.EventQuery{After: 1, Limit: 10}); !errors.Is(err, domain.ErrEventsGone) {
			t.Errorf("EventsAfter(1) = %v; want ErrEventsGone", err)
		}
		for _, after := range []domain.EventID{0, 3} {
			evs, err := db.EventsAfter(ctx, ports.EventQuery{After: after, Limit: 10})
			if err != nil || len(evs) != 2 || evs[0].ID != 4 {
				t.Errorf("EventsAfter(%d) = %d events, %v; want IDs 4 and 5", after, len(evs), err)
			}
		}
		n, err = db.PurgeEvents(ctx, late.Add(time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("second PurgeEvents = %d, %v; want 2", n, err)
		}
		if d := count(t, db, "webhook_deliveries"); d != 0 {
			t.Errorf("deliveries after purging their events = %d; want 0", d)
		}
		if last, err := db.LastEventID(ctx); err != nil || last != 5 {
			t.Errorf("LastEventID after purging all = %d, %v; want 5", last, err)
		}
		mustCreate(t, db, newOrder(t, late, true))
		evs := allEvents(t, db, "")
		if len(evs) != 1 || evs[0].ID != domain.EventID(len(all)+1) {
			t.Errorf("after a purge of everything, new events = %+v; want one with ID %d", evs, len(all)+1)
		}
		if _, err := db.EventsAfter(ctx, ports.EventQuery{After: 5, Limit: 10}); err != nil {
			t.Errorf("EventsAfter(5), the last purged: %v; want the events after it", err)
		}
		_ = hook
	})

	t.Run("a purge leaves events not numbered yet, which keep their place", func(t *testing.T) {
		db := open(t)
		mustCreate(t, db, newOrder(t, t0, false))
		if db.Dialect() == store.Postgres {
			if n, err := db.PurgeEvents(ctx, t0.Add(24*time.Hour)); err != nil || n != 0 {
				t.Fatalf("PurgeEvents of an unnumbered event = %d, %v; want 0", n, err)
			}
		}
		if evs := allEvents(t, db, ""); len(evs) != 1 || evs[0].ID != 1 {
			t.Errorf("events = %+v; want the one created, with ID 1", evs)
		}
		if n, err := db.PurgeEvents(ctx, t0.Add(24*time.Hour)); err != nil || n != 1 {
			t.Errorf("PurgeEvents once numbered = %d, %v; want 1", n, err)
		}
	})

	t.Run("webhooks: created, listed oldest first, deleted, each account's own", func(t *testing.T) {
		db := open(t)
		first := mustWebhook(t, db, testAccount, t0)
		second := mustWebhook(t, db, testAccount, t0.Add(time.Second))
		theirs := mustWebhook(t, db, "other", t0)
		got, err := db.Webhooks(ctx, testAccount)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]domain.Webhook{first, second}, got); diff != "" {
			t.Errorf("webhooks (-want +got):\n%s", diff)
		}
		if err := db.CreateWebhook(ctx, first); err != nil {
			t.Errorf("creating the same webhook again: %v; want nil (the same one)", err)
		}
		clash := theirs
		clash.URL = "https://elsewhere.example.com/"
		if err := db.CreateWebhook(ctx, clash); !errors.Is(err, domain.ErrConflict) {
			t.Errorf("another webhook under a taken ID: %v; want ErrConflict", err)
		}
		for _, id := range []domain.WebhookID{theirs.ID, "wh_unknown"} {
			if err := db.DeleteWebhook(ctx, testAccount, id); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("DeleteWebhook(%s) = %v; want ErrNotFound", id, err)
			}
		}
		mustCreate(t, db, newOrder(t, t0, false))
		if err := db.DeleteWebhook(ctx, testAccount, first.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Webhooks(ctx, testAccount); len(got) != 1 || got[0].ID != second.ID {
			t.Errorf("after delete: %+v; want only the second", got)
		}
		if got, _ := db.Webhooks(ctx, "other"); len(got) != 1 || got[0].ID != theirs.ID {
			t.Errorf("the other account's: %+v; want its own, untouched", got)
		}
		if n := count(t, db, "webhook_deliveries"); n != 1 {
			t.Errorf("deliveries = %d; want 1 (the second webhook's)", n)
		}
	})

	t.Run("deliveries go to the enabled endpoints of the event's account", func(t *testing.T) {
		db := open(t)
		mine := mustWebhook(t, db, testAccount, t0)
		off, err := domain.NewWebhook(testAccount, "https://off.example.com/", t0)
		if err != nil {
			t.Fatal(err)
		}
		off.DisabledAt = t0
		if err := db.CreateWebhook(ctx, off); err != nil {
			t.Fatal(err)
		}
		mustWebhook(t, db, "other", t0)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		ds := claimDeliveries(t, db, "s", t0.Add(time.Hour), 10, 10)
		sequence(t, db)
		ds = append(ds, claimDeliveries(t, db, "s", t0.Add(time.Hour), 10, 10)...)
		if len(ds) != 1 || ds[0].Webhook.ID != mine.ID || ds[0].Event.Order.ID != o.ID || ds[0].Event.Type != domain.EventCreated {
			t.Fatalf("claimed %+v; want the one delivery to %s", ds, mine.ID)
		}
		d := ds[0]
		if diff := cmp.Diff(mine, d.Webhook); diff != "" {
			t.Errorf("delivery's webhook (-want +got):\n%s", diff)
		}
		if d.Attempts != 0 || d.Owner != "s" || !d.LeaseUntil.Equal(t0.Add(time.Hour+time.Minute)) || !d.Enqueued.Equal(t0) || d.Event.ID == 0 {
			t.Errorf("delivery: attempts %d, owner %q, lease until %v, enqueued %v, event %d", d.Attempts, d.Owner, d.LeaseUntil, d.Enqueued, d.Event.ID)
		}
		if n := count(t, db, "webhook_deliveries"); n != 1 {
			t.Errorf("deliveries = %d; want 1", n)
		}
	})

	t.Run("every event of a transaction gets its deliveries, however many it writes", func(t *testing.T) {
		db := open(t)
		mustWebhook(t, db, testAccount, t0)
		second, err := domain.NewWebhook(testAccount, "https://second.example.com/", t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateWebhook(ctx, second); err != nil {
			t.Fatal(err)
		}
		mustWebhook(t, db, "other", t0)
		// Concurrent creates share group commits, the two accounts mixed.
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Go(func() {
				o := newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false)
				if i%2 == 1 {
					o.Account = "other"
				}
				if err := db.Create(ctx, o); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// Three events of one order in one transaction.
		f := newOrder(t, t0.Add(time.Second), false)
		mustCreate(t, db, f)
		ackAndFill(t, db, f)
		var got []struct {
			Seq        int64  `bun:"seq"`
			Account    string `bun:"account"`
			Deliveries int    `bun:"deliveries"`
		}
		if err := db.Bun().NewRaw(`SELECT e.seq, e.account, count(d.webhook_id) AS deliveries
			FROM events AS e LEFT JOIN webhook_deliveries AS d ON d.event_seq = e.seq
			GROUP BY e.seq, e.account ORDER BY e.seq`).Scan(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 64+1+3 {
			t.Fatalf("%d events; want %d", len(got), 64+1+3)
		}
		want := map[string]int{string(testAccount): 2, "other": 1}
		for _, e := range got {
			if e.Deliveries != want[e.Account] {
				t.Errorf("event %d of %s has %d deliveries; want %d", e.Seq, e.Account, e.Deliveries, want[e.Account])
			}
		}
	})

	t.Run("a claim leases at most PerEndpoint of one endpoint, counting every holder's", func(t *testing.T) {
		db := open(t)
		busy := mustWebhook(t, db, testAccount, t0)
		calm := mustWebhook(t, db, "other", t0)
		for i := range 10 {
			mustCreate(t, db, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false))
		}
		for i := range 2 {
			o := newOrder(t, t0.Add(time.Duration(20+i)*time.Millisecond), false)
			o.Account = "other"
			mustCreate(t, db, o)
		}
		now := t0.Add(time.Hour)
		if db.Dialect() == store.Postgres {
			if ds := claimDeliveries(t, db, "a", now, 100, 4); len(ds) != 0 {
				t.Errorf("claimed %d deliveries of events without IDs; want 0", len(ds))
			}
		}
		sequence(t, db)
		ds := claimDeliveries(t, db, "a", now, 100, 4)
		if got := perEndpoint(ds); got[busy.ID] != 4 || got[calm.ID] != 2 || len(ds) != 6 {
			t.Errorf("claimed %v; want 4 of the busy endpoint, 2 of the calm one", got)
		}
		for i := 1; i < len(ds); i++ {
			if ds[i].Webhook.ID == ds[i-1].Webhook.ID && ds[i].Event.ID < ds[i-1].Event.ID {
				t.Errorf("deliveries of one endpoint out of order: %d after %d", ds[i].Event.ID, ds[i-1].Event.ID)
			}
		}
		if more := claimDeliveries(t, db, "b", now, 100, 4); len(more) != 0 {
			t.Errorf("a second claimer got %d; want 0 while 4 are leased", len(more))
		}
		var first ports.Delivery
		for _, d := range ds {
			if d.Webhook.ID == busy.ID {
				first = d
				break
			}
		}
		if err := db.SettleDelivery(ctx, first, ports.DeliveryOutcome{Result: ports.Delivered, At: now}); err != nil {
			t.Fatal(err)
		}
		if more := claimDeliveries(t, db, "b", now, 100, 4); len(more) != 1 || more[0].Webhook.ID != busy.ID {
			t.Errorf("after one delivered: claimed %v; want 1 of the busy endpoint", perEndpoint(more))
		}
		if more := claimDeliveries(t, db, "c", now, 2, 10); len(more) != 2 {
			t.Errorf("claim with limit 2 got %d; want 2", len(more))
		}
	})

	t.Run("settles are fenced by the lease", func(t *testing.T) {
		db := open(t)
		mustWebhook(t, db, testAccount, t0)
		mustCreate(t, db, newOrder(t, t0, false))
		sequence(t, db)
		now := t0.Add(time.Hour)
		stale := claimDeliveries(t, db, "a", now, 1, 1)[0]
		// The lease runs out; another sender takes the delivery over.
		later := now.Add(2 * time.Minute)
		fresh := claimDeliveries(t, db, "b", later, 1, 1)
		if len(fresh) != 1 {
			t.Fatalf("claimed %d after the lease ran out; want 1", len(fresh))
		}
		for _, res := range []ports.DeliveryResult{ports.Delivered, ports.RetryDelivery, ports.GiveUp, ports.EndpointGone} {
			err := db.SettleDelivery(ctx, stale, ports.DeliveryOutcome{Result: res, At: later, Due: later, Cause: "500"})
			if !errors.Is(err, domain.ErrLeaseLost) {
				t.Errorf("stale settle %d: %v; want ErrLeaseLost", res, err)
			}
		}
		if hooks, _ := db.Webhooks(ctx, testAccount); !hooks[0].DisabledAt.IsZero() {
			t.Error("a stale EndpointGone disabled the endpoint")
		}
		due := later.Add(time.Minute)
		if err := db.SettleDelivery(ctx, fresh[0], ports.DeliveryOutcome{Result: ports.RetryDelivery, At: later, Due: due, Cause: "HTTP 500"}); err != nil {
			t.Fatal(err)
		}
		if ds := claimDeliveries(t, db, "c", due.Add(-time.Microsecond), 10, 10); len(ds) != 0 {
			t.Errorf("claimed %d before due; want 0", len(ds))
		}
		ds := claimDeliveries(t, db, "c", due, 10, 10)
		if len(ds) != 1 || ds[0].Attempts != 1 {
			t.Fatalf("claimed %d at due; want 1 with 1 attempt", len(ds))
		}
		var lastError string
		if err := db.Bun().NewRaw("SELECT last_error FROM webhook_deliveries").Scan(ctx, &lastError); err != nil || lastError != "HTTP 500" {
			t.Errorf("last_error = %q, %v; want HTTP 500", lastError, err)
		}
		if err := db.SettleDelivery(ctx, ds[0], ports.DeliveryOutcome{Result: ports.GiveUp, At: due}); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, "webhook_deliveries"); n != 0 {
			t.Errorf("deliveries after giving up = %d; want 0", n)
		}
	})

	t.Run("410 disables the endpoint and drops its pending deliveries", func(t *testing.T) {
		db := open(t)
		gone := mustWebhook(t, db, testAccount, t0)
		kept := mustWebhook(t, db, testAccount, t0.Add(time.Second))
		for i := range 3 {
			mustCreate(t, db, newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false))
		}
		sequence(t, db)
		now := t0.Add(time.Hour)
		ds := claimDeliveries(t, db, "a", now, 1, 1)
		if len(ds) != 1 {
			t.Fatalf("claimed %d; want 1", len(ds))
		}
		var d ports.Delivery
		for _, c := range claimDeliveries(t, db, "a", now, 10, 1) {
			if c.Webhook.ID == gone.ID {
				d = c
			}
		}
		if ds[0].Webhook.ID == gone.ID {
			d = ds[0]
		}
		if err := db.SettleDelivery(ctx, d, ports.DeliveryOutcome{Result: ports.EndpointGone, At: now}); err != nil {
			t.Fatal(err)
		}
		hooks, _ := db.Webhooks(ctx, testAccount)
		if len(hooks) != 2 || hooks[0].ID != gone.ID || !hooks[0].DisabledAt.Equal(now) || !hooks[1].DisabledAt.IsZero() {
			t.Errorf("webhooks after 410: %+v; want the first disabled at %v, the second enabled", hooks, now)
		}
		var left []string
		if err := db.Bun().NewRaw("SELECT DISTINCT webhook_id FROM webhook_deliveries").Scan(ctx, &left); err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0] != string(kept.ID) || count(t, db, "webhook_deliveries") != 3 {
			t.Errorf("deliveries left to %v (%d); want 3, all to the enabled endpoint", left, count(t, db, "webhook_deliveries"))
		}
		mustCreate(t, db, newOrder(t, t0, true))
		if n := count(t, db, "webhook_deliveries"); n != 4 {
			t.Errorf("deliveries after a new event = %d; want 4: none for the disabled endpoint", n)
		}
	})

	t.Run("released deliveries are due at once, their attempts unchanged", func(t *testing.T) {
		db := open(t)
		mustWebhook(t, db, testAccount, t0)
		mustCreate(t, db, newOrder(t, t0, false))
		sequence(t, db)
		now := t0.Add(time.Hour)
		ds := claimDeliveries(t, db, "a", now, 10, 10)
		if err := db.ReleaseDeliveries(ctx, ds, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if again := claimDeliveries(t, db, "b", now.Add(time.Second), 10, 10); len(again) != 1 || again[0].Attempts != 0 {
			t.Errorf("after release: claimed %d; want 1 with 0 attempts", len(again))
		}
	})

	t.Run("delivery stats count pending deliveries and find the oldest", func(t *testing.T) {
		db := open(t)
		if st, err := db.DeliveryStats(ctx); err != nil || st.Pending != 0 || !st.Oldest.IsZero() {
			t.Errorf("empty: %+v, %v", st, err)
		}
		mustWebhook(t, db, testAccount, t0)
		mustWebhook(t, db, testAccount, t0)
		mustCreate(t, db, newOrder(t, t0.Add(time.Second), false))
		mustCreate(t, db, newOrder(t, t0, false))
		if st, err := db.DeliveryStats(ctx); err != nil || st.Pending != 4 || !st.Oldest.Equal(t0) {
			t.Errorf("stats = %+v, %v; want 4 pending, oldest %v", st, err, t0)
		}
		// A delivery left behind by an endpoint deleted as it was written is
		// owed to no one: not counted, however old.
		if _, err := db.Bun().ExecContext(ctx, "INSERT INTO webhook_deliveries (webhook_id, event_seq, due_at, attempts, enqueued_at) VALUES (?, 1, ?, 0, ?)",
			"wh_deleted", t0.Add(-time.Hour), t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if st, err := db.DeliveryStats(ctx); err != nil || st.Pending != 4 || !st.Oldest.Equal(t0) {
			t.Errorf("with an orphan: stats = %+v, %v; want 4 pending, oldest %v", st, err, t0)
		}
	})

	t.Run("the signals fire after a commit that wrote events, and once they are readable", func(t *testing.T) {
		db := open(t)
		sig, stop := db.EventsSignal()
		written, stopWritten := db.WrittenSignal().EventsSignal()
		defer stopWritten()
		drain(sig)
		drain(written)
		mustCreate(t, db, newOrder(t, t0, false))
		waitSignal(t, written, "WrittenSignal after Create")
		if db.Dialect() == store.SQLite {
			waitSignal(t, sig, "EventsSignal after Create")
		}
		sequence(t, db)
		if db.Dialect() == store.Postgres {
			waitSignal(t, sig, "EventsSignal after SequenceEvents")
		}
		stop()
		for range sig {
		}
		stop() // twice is fine
	})

	t.Run("the schema accepts exactly the domain's event types", func(t *testing.T) {
		db := open(t)
		o := newOrder(t, t0, false)
		mustCreate(t, db, o)
		for _, et := range domain.EventTypes() {
			if _, err := db.Bun().ExecContext(ctx, "UPDATE events SET type = ?", string(et)); err != nil {
				t.Errorf("event type %s refused: %v", et, err)
			}
		}
		if _, err := db.Bun().ExecContext(ctx, "UPDATE events SET type = ?", "order.updated"); err == nil {
			t.Error("event type order.updated (not the domain's) accepted")
		}
	})
}

// drain empties a signal channel.
func drain(sig <-chan struct{}) {
	for {
		select {
		case <-sig:
		default:
			return
		}
	}
}

// waitSignal fails the test unless sig fires within 5 s.
func waitSignal(t testing.TB, sig <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-sig:
		if !ok {
			t.Fatalf("%s: signal channel closed", what)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no signal within 5 s", what)
	}
}
