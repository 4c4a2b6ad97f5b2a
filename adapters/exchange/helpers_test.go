package exchange_test

import (
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/domain"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// order returns a new valid market buy of 1 with a fresh ID.
func order(t *testing.T) domain.Order {
	t.Helper()
	return newOrder(t, domain.Market, domain.Buy, nil, 1)
}

// newOrder returns a new valid order with a fresh ID; limit is in cents,
// nil for a market order.
func newOrder(t *testing.T, typ domain.Type, side domain.Side, limit *int64, qty int64) domain.Order {
	t.Helper()
	var p *domain.Price
	if limit != nil {
		v := domain.PriceFromCents(*limit)
		p = &v
	}
	o, err := domain.New(domain.NewID(time.Now()), t0, domain.Spec{Type: typ, Side: side, Instrument: "US0378331005", LimitPrice: p, Quantity: qty})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func cents(c int64) *int64 { return &c }

// newVenue returns a venue closed when the test ends.
func newVenue(t *testing.T, cfg exchange.VenueConfig) *exchange.Venue {
	t.Helper()
	v, err := exchange.NewVenue(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// always makes the venue's dice return v: below FailureRate fails, at or
// above it succeeds.
func always(v float64) func() float64 { return func() float64 { return v } }

// dice makes the venue's dice return vals in turn, then 0.5.
func dice(vals ...float64) func() float64 {
	return func() float64 {
		if len(vals) == 0 {
			return 0.5
		}
		d := vals[0]
		vals = vals[1:]
		return d
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// allReports returns every report the venue keeps.
func allReports(t *testing.T, v *exchange.Venue) []domain.Report {
	t.Helper()
	rs, err := v.Reports(1, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// reportsOf returns the venue's kept reports about the order id.
func reportsOf(t *testing.T, v *exchange.Venue, id domain.ID) []domain.Report {
	t.Helper()
	var out []domain.Report
	for _, r := range allReports(t, v) {
		if r.OrderID == id {
			out = append(out, r)
		}
	}
	return out
}

// kinds lists the kinds of rs.
func kinds(rs []domain.Report) []domain.ReportKind {
	out := make([]domain.ReportKind, len(rs))
	for i, r := range rs {
		out[i] = r.Kind
	}
	return out
}

// ended waits until the venue's record of id has ended with no cancel
// pending, and returns it.
func ended(t *testing.T, v *exchange.Venue, id domain.ID) exchange.VenueOrder {
	t.Helper()
	var rec exchange.VenueOrder
	waitFor(t, "order "+id.String()+" to end", func() bool {
		var ok bool
		rec, ok = v.Order(id)
		return ok && rec.Status.Terminal() && !rec.CancelPending
	})
	return rec
}
