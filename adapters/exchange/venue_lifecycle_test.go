package exchange_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/domain"
)

// checkReports checks the reports about one order against the venue's
// record of it: they validate, start with the acknowledgement, their
// fills are the record's executions with running totals, and the last
// status report agrees with the record's status (placed or
// partially_filled while none ended it).
func checkReports(t *testing.T, rec exchange.VenueOrder, rs []domain.Report) {
	t.Helper()
	if len(rs) == 0 || rs[0].Kind != domain.ReportAck || rs[0].LeavesQty != rec.Quantity || rs[0].CumQty != 0 {
		t.Fatalf("order %s reports %v; want an ack of %d first", rec.ID, rs, rec.Quantity)
	}
	var fills []domain.Fill
	var cum int64
	ended := domain.Status("")
	for _, r := range rs {
		if err := r.Validate(); err != nil {
			t.Errorf("report %d: %v", r.Seq, err)
		}
		if ended != "" && r.Kind != domain.ReportCancelRejected {
			t.Errorf("report %d (%s) after the order ended %s", r.Seq, r.Kind, ended)
		}
		switch r.Kind {
		case domain.ReportPartialFill, domain.ReportFill:
			cum += r.LastQty
			fills = append(fills, domain.Fill{ExecID: r.ExecID, Quantity: r.LastQty, Price: r.LastPrice, ExecutedAt: r.At})
			if r.CumQty != cum || r.LeavesQty != rec.Quantity-cum {
				t.Errorf("report %d: cum %d leaves %d; want %d and %d", r.Seq, r.CumQty, r.LeavesQty, cum, rec.Quantity-cum)
			}
			if (r.Kind == domain.ReportFill) != (cum == rec.Quantity) {
				t.Errorf("report %d is a %s with %d of %d filled", r.Seq, r.Kind, cum, rec.Quantity)
			}
			if cum == rec.Quantity {
				ended = domain.Filled
			}
		case domain.ReportCanceled, domain.ReportExpired:
			if r.CumQty != cum || r.LeavesQty != 0 {
				t.Errorf("report %d (%s): cum %d leaves %d; want %d and 0", r.Seq, r.Kind, r.CumQty, r.LeavesQty, cum)
			}
			ended = domain.Canceled
			if r.Kind == domain.ReportExpired {
				ended = domain.Expired
			}
		case domain.ReportCancelRejected:
			if r.Reason == "" {
				t.Errorf("report %d: cancel_rejected without a reason", r.Seq)
			}
		}
	}
	if diff := cmp.Diff(rec.Executions, fills); diff != "" {
		t.Errorf("order %s: executions (-record +reports):\n%s", rec.ID, diff)
	}
	if rec.CumQty != cum {
		t.Errorf("order %s: record cum %d; reports %d", rec.ID, rec.CumQty, cum)
	}
	status := ended
	switch {
	case ended != "":
	case cum > 0:
		status = domain.PartiallyFilled
	default:
		status = domain.Placed
	}
	if rec.Status != status {
		t.Errorf("order %s: record status %s; reports say %s", rec.ID, rec.Status, status)
	}
}

func TestVenueMarketableOrdersFillAtThePrice(t *testing.T) {
	tests := []struct {
		name  string
		typ   domain.Type
		side  domain.Side
		limit *int64
		qty   int64
	}{
		{"market buy of 1", domain.Market, domain.Buy, nil, 1},
		{"market sell of 2", domain.Market, domain.Sell, nil, 2},
		{"market buy of 1000", domain.Market, domain.Buy, nil, 1000},
		{"limit buy at the price", domain.Limit, domain.Buy, cents(50_00), 7},
		{"limit buy above the price", domain.Limit, domain.Buy, cents(123_45), 30},
		{"limit sell at the price", domain.Limit, domain.Sell, cents(50_00), 3},
		{"limit sell below the price", domain.Limit, domain.Sell, cents(1), 999},
	}
	for _, fillTime := range []time.Duration{0, 10 * time.Millisecond} {
		for _, tt := range tests {
			t.Run(tt.name+" over "+fillTime.String(), func(t *testing.T) {
				t.Parallel()
				const price = 50_00
				v := newVenue(t, exchange.VenueConfig{Price: price, FillTime: fillTime})
				o := newOrder(t, tt.typ, tt.side, tt.limit, tt.qty)
				if err := v.Place(context.Background(), o); err != nil {
					t.Fatal(err)
				}
				rec := ended(t, v, o.ID)
				if rec.Status != domain.Filled || rec.CumQty != tt.qty || rec.Leaves() != 0 {
					t.Fatalf("record %+v; want filled, %d of %d", rec, tt.qty, tt.qty)
				}
				if n := len(rec.Executions); n < 1 || n > 3 {
					t.Errorf("%d executions; want 1 to 3", n)
				}
				var sum int64
				for _, e := range rec.Executions {
					sum += e.Quantity
					if e.Price != price || e.Quantity < 1 {
						t.Errorf("execution %+v; want a positive quantity at 50.00", e)
					}
					if e.ExecutedAt.Before(rec.PlacedAt) {
						t.Errorf("execution at %s before the acknowledgement at %s", e.ExecutedAt, rec.PlacedAt)
					}
				}
				if sum != tt.qty {
					t.Errorf("executions sum to %d; want %d", sum, tt.qty)
				}
				checkReports(t, rec, reportsOf(t, v, o.ID))
			})
		}
	}
}

func TestVenueSplitsIntoOneToThreeExecutions(t *testing.T) {
	seen := map[int]bool{}
	v := newVenue(t, exchange.VenueConfig{})
	for i := 0; i < 200 && len(seen) < 3; i++ {
		o := newOrder(t, domain.Market, domain.Buy, nil, 100)
		if err := v.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		rec, _ := v.Order(o.ID)
		seen[len(rec.Executions)] = true
	}
	if diff := cmp.Diff(map[int]bool{1: true, 2: true, 3: true}, seen); diff != "" {
		t.Errorf("numbers of executions seen (-want +got):\n%s", diff)
	}
}

func TestVenueRestingLimitOrdersExpire(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{OrderTTL: 20 * time.Millisecond, FillTime: time.Millisecond})
	buy := newOrder(t, domain.Limit, domain.Buy, cents(99_99), 5)
	sell := newOrder(t, domain.Limit, domain.Sell, cents(100_01), 5)
	for _, o := range []domain.Order{buy, sell} {
		if err := v.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		if rec, _ := v.Order(o.ID); rec.Status != domain.Placed {
			t.Errorf("order %s is %s right after placement; want placed", o.ID, rec.Status)
		}
	}
	for _, o := range []domain.Order{buy, sell} {
		rec := ended(t, v, o.ID)
		if rec.Status != domain.Expired || rec.CumQty != 0 || len(rec.Executions) != 0 {
			t.Errorf("record %+v; want expired unfilled", rec)
		}
		if got := rec.UpdatedAt.Sub(rec.PlacedAt); got < 20*time.Millisecond-time.Microsecond {
			t.Errorf("expired %s after placement; want at least the TTL of 20ms", got)
		}
		rs := reportsOf(t, v, o.ID)
		if diff := cmp.Diff([]domain.ReportKind{domain.ReportAck, domain.ReportExpired}, kinds(rs)); diff != "" {
			t.Errorf("report kinds (-want +got):\n%s", diff)
		}
		checkReports(t, rec, rs)
	}
}

func TestVenueRestsWithoutATTL(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{})
	o := newOrder(t, domain.Limit, domain.Buy, cents(1), 5)
	if err := v.Place(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if rec, _ := v.Order(o.ID); rec.Status != domain.Placed || rec.Leaves() != 5 {
		t.Errorf("record %+v; want placed with 5 working", rec)
	}
}

func TestVenueCancelsAWorkingOrder(t *testing.T) {
	t.Run("resting", func(t *testing.T) {
		v := newVenue(t, exchange.VenueConfig{CancelDelay: 10 * time.Millisecond})
		o := newOrder(t, domain.Limit, domain.Sell, cents(500_00), 5)
		if err := v.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			// The second cancel finds the first pending: accepted again,
			// nothing more happens.
			if err := v.Cancel(context.Background(), o.ID); err != nil {
				t.Fatalf("cancel %d: %v", i+1, err)
			}
		}
		rec := ended(t, v, o.ID)
		if rec.Status != domain.Canceled || rec.CumQty != 0 {
			t.Errorf("record %+v; want canceled unfilled", rec)
		}
		rs := reportsOf(t, v, o.ID)
		if diff := cmp.Diff([]domain.ReportKind{domain.ReportAck, domain.ReportCanceled}, kinds(rs)); diff != "" {
			t.Errorf("report kinds (-want +got):\n%s", diff)
		}
		checkReports(t, rec, rs)
		if st := v.Stats(); st.CancelCalls != 2 || st.CancelsAccepted != 2 {
			t.Errorf("stats %+v; want 2 cancels accepted", st)
		}
	})

	t.Run("partly filled", func(t *testing.T) {
		// The dice: placement 0.5; 3 executions (0.9); even weights; the
		// first at once, the others in about an hour.
		v := newVenue(t, exchange.VenueConfig{FillTime: 3 * time.Hour, Rand: dice(0.5, 0.9, 0.5, 0.5, 0.5, 0, 0.99, 0.99)})
		o := newOrder(t, domain.Market, domain.Buy, nil, 9)
		if err := v.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the first fill", func() bool { rec, _ := v.Order(o.ID); return rec.CumQty > 0 })
		if err := v.Cancel(context.Background(), o.ID); err != nil {
			t.Fatal(err)
		}
		rec := ended(t, v, o.ID)
		if rec.Status != domain.Canceled || rec.CumQty != 3 {
			t.Errorf("record %+v; want canceled with 3 of 9 filled", rec)
		}
		rs := reportsOf(t, v, o.ID)
		if diff := cmp.Diff([]domain.ReportKind{domain.ReportAck, domain.ReportPartialFill, domain.ReportCanceled}, kinds(rs)); diff != "" {
			t.Errorf("report kinds (-want +got):\n%s", diff)
		}
		checkReports(t, rec, rs)
	})
}

// TestVenueCancelRacesFills cancels orders while they fill, many times,
// until both endings have been seen: whichever wins, the venue's record
// decides, and the reports agree with it.
func TestVenueCancelRacesFills(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{FillTime: 4 * time.Millisecond, CancelDelay: 2 * time.Millisecond})
	outcomes := map[domain.Status]int{}
	deadline := time.Now().Add(20 * time.Second)
	for round := 0; round < 40 && (outcomes[domain.Filled] == 0 || outcomes[domain.Canceled] == 0); round++ {
		if time.Now().After(deadline) {
			break
		}
		var orders []domain.Order
		for range 25 {
			o := newOrder(t, domain.Market, domain.Sell, nil, 6)
			if err := v.Place(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			if err := v.Cancel(context.Background(), o.ID); err != nil && !errors.Is(err, domain.ErrRejected) {
				t.Fatal(err)
			}
			orders = append(orders, o)
		}
		for _, o := range orders {
			rec := ended(t, v, o.ID)
			outcomes[rec.Status]++
			rs := reportsOf(t, v, o.ID)
			checkReports(t, rec, rs)
			last := rs[len(rs)-1]
			switch rec.Status {
			case domain.Filled:
				// The cancel was accepted before the fill came, or
				// refused because it had: either way a cancel_rejected.
				if last.Kind != domain.ReportCancelRejected || last.Reason != "too late: filled" || last.CumQty != 6 {
					t.Errorf("filled order %s ends with %+v; want cancel_rejected too late: filled", o.ID, last)
				}
			case domain.Canceled:
				if last.Kind != domain.ReportCanceled || rec.CumQty >= 6 {
					t.Errorf("canceled order %s: record %+v, last report %+v", o.ID, rec, last)
				}
			default:
				t.Errorf("order %s ended %s; want filled or canceled", o.ID, rec.Status)
			}
		}
	}
	if outcomes[domain.Filled] == 0 || outcomes[domain.Canceled] == 0 {
		t.Errorf("outcomes %v; want both filled and canceled", outcomes)
	}
	t.Logf("outcomes: %v", outcomes)
}

func TestVenueRefusesCancelOfUnknownAndFinishedOrders(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{OrderTTL: time.Millisecond})
	filled := newOrder(t, domain.Market, domain.Buy, nil, 4)
	expired := newOrder(t, domain.Limit, domain.Buy, cents(1), 4)
	canceled := newOrder(t, domain.Limit, domain.Sell, cents(1000_00), 4)
	for _, o := range []domain.Order{filled, expired, canceled} {
		if err := v.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Cancel(context.Background(), canceled.ID); err != nil {
		t.Fatal(err)
	}
	ended(t, v, expired.ID)
	unknown := domain.NewID(time.Now())

	tests := []struct {
		name   string
		id     domain.ID
		reason string
		cum    int64
	}{
		{"unknown", unknown, "unknown order", 0},
		{"filled", filled.ID, "too late: filled", 4},
		{"expired", expired.ID, "too late: expired", 0},
		{"canceled", canceled.ID, "already canceled", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := v.Stats()
			err := v.Cancel(context.Background(), tt.id)
			if !errors.Is(err, domain.ErrRejected) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("Cancel error = %v; want a refusal naming %q", err, tt.reason)
			}
			rs := reportsOf(t, v, tt.id)
			last := rs[len(rs)-1]
			want := domain.Report{Seq: last.Seq, ExecID: last.ExecID, OrderID: tt.id, Kind: domain.ReportCancelRejected, CumQty: tt.cum, At: last.At, Reason: tt.reason}
			if diff := cmp.Diff(want, last); diff != "" {
				t.Errorf("last report (-want +got):\n%s", diff)
			}
			if err := last.Validate(); err != nil {
				t.Error(err)
			}
			after := v.Stats()
			if after.CancelsRefused != before.CancelsRefused+1 || after.Reports != before.Reports+1 {
				t.Errorf("stats %+v after %+v; want one more refusal and one more report", after, before)
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		before := v.Stats()
		if err := v.Cancel(context.Background(), domain.ID{}); !errors.Is(err, domain.ErrRejected) {
			t.Errorf("Cancel error = %v; want a refusal", err)
		}
		if after := v.Stats(); after.Reports != before.Reports {
			t.Errorf("a cancel of no order was reported on the feed")
		}
	})
}

func TestVenueCancelFailsTransiently(t *testing.T) {
	// An hour of latency: if the failure path waited, the test would time out.
	v := newVenue(t, exchange.VenueConfig{FailureRate: 0.1, Latency: time.Hour, Rand: always(0.05)})
	err := v.Cancel(context.Background(), domain.NewID(time.Now()))
	if !errors.Is(err, exchange.ErrCancelUnavailable) || errors.Is(err, domain.ErrRejected) {
		t.Errorf("Cancel error = %v; want the transient ErrCancelUnavailable", err)
	}
	if got, want := err.Error(), "Failed to cancel order at stock exchange. Connection not available"; got != want {
		t.Errorf("message = %q; want %q", got, want)
	}
	if diff := cmp.Diff(exchange.VenueStats{CancelCalls: 1, CancelFailures: 1}, v.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}

	slow := newVenue(t, exchange.VenueConfig{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := slow.Cancel(ctx, domain.NewID(time.Now())); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Cancel error = %v; want the deadline", err)
	}
	if diff := cmp.Diff(exchange.VenueStats{CancelCalls: 1, CancelsAbandoned: 1}, slow.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestVenueRefusesInvalidOrdersBeforeTheDice(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{FailureRate: 1, Latency: time.Hour})
	bad := order(t)
	bad.Quantity = 0
	if err := v.Place(context.Background(), bad); !errors.Is(err, domain.ErrRejected) || !strings.Contains(err.Error(), "quantity") {
		t.Errorf("Place error = %v; want a refusal naming the quantity", err)
	}
	if st := v.Stats(); st.Rejected != 1 || st.Reports != 0 {
		t.Errorf("stats %+v; want one refusal, no report", st)
	}
}

func TestVenueSequenceRisesByOne(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{Session: "s1", FillTime: time.Millisecond, CancelDelay: time.Millisecond})
	var ids []domain.ID
	for i := range 30 {
		o := newOrder(t, domain.Market, domain.Buy, nil, int64(1+i))
		if i%3 == 0 {
			o = newOrder(t, domain.Limit, domain.Buy, cents(1), 5)
		}
		if err := v.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
		if i%2 == 0 {
			_ = v.Cancel(context.Background(), o.ID)
		}
	}
	for _, id := range ids {
		settled := func() bool {
			rec, _ := v.Order(id)
			return !rec.CancelPending && (rec.Status.Terminal() || rec.Status == domain.Placed && rec.Type == domain.Limit)
		}
		waitFor(t, "order "+id.String()+" to settle", settled)
	}
	rs := allReports(t, v)
	if int64(len(rs)) != v.Stats().Reports {
		t.Errorf("%d reports kept; stats say %d", len(rs), v.Stats().Reports)
	}
	for i, r := range rs {
		if r.Seq != int64(i+1) {
			t.Fatalf("report %d has seq %d", i+1, r.Seq)
		}
		if want := "s1-" + strconv.FormatInt(r.Seq, 10); r.ExecID != want {
			t.Errorf("report %d exec_id %q; want %q", r.Seq, r.ExecID, want)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("report %d: %v", r.Seq, err)
		}
		if i > 0 && r.At.Before(rs[i-1].At) {
			t.Errorf("report %d at %s before report %d at %s", r.Seq, r.At, r.Seq-1, rs[i-1].At)
		}
	}
	for _, id := range ids {
		rec, _ := v.Order(id)
		checkReports(t, rec, reportsOf(t, v, id))
	}
}

func TestVenueSessionsAreDistinct(t *testing.T) {
	a, b := newVenue(t, exchange.VenueConfig{}), newVenue(t, exchange.VenueConfig{})
	if a.Session() == "" || a.Session() == b.Session() {
		t.Errorf("sessions %q and %q; want two distinct names", a.Session(), b.Session())
	}
}

func TestVenueOrderJSONRoundTrips(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{Price: 12_34})
	for _, o := range []domain.Order{newOrder(t, domain.Market, domain.Buy, nil, 10), newOrder(t, domain.Limit, domain.Sell, cents(99_999), 3)} {
		if err := v.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		rec, _ := v.Order(o.ID)
		b, err := rec.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var got exchange.VenueOrder
		if err := got.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rec, got); diff != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", b, diff)
		}
	}
}

func TestVenueCloseStopsItsWork(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{})
	sub, err := v.Subscribe(context.Background(), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := sub.Next(context.Background()); done <- err }()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Next returned a report from a closed venue")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return after Close")
	}
	if err := v.Place(context.Background(), order(t)); !errors.Is(err, exchange.ErrUnavailable) {
		t.Errorf("Place after Close = %v; want ErrUnavailable", err)
	}
	if _, err := v.Subscribe(context.Background(), "", 1); err == nil {
		t.Error("Subscribe after Close succeeded")
	}
}
