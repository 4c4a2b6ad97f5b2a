package exchange_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/domain"
)

// workingVenue returns a venue with market orders waiting an hour for
// their fills and limit orders resting.
func workingVenue(t *testing.T, market, resting int, qty int64) (*exchange.Venue, []domain.Order) {
	t.Helper()
	v := newVenue(t, exchange.VenueConfig{FillTime: time.Hour, OrderTTL: time.Hour})
	var orders []domain.Order
	for i := range market + resting {
		o := newOrder(t, domain.Market, domain.Buy, nil, qty)
		if i >= market {
			o = newOrder(t, domain.Limit, domain.Sell, cents(150_00), qty)
		}
		if err := v.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
	}
	return v, orders
}

func TestFloodFillsEveryWorkingOrder(t *testing.T) {
	v, orders := workingVenue(t, 40, 10, 25)
	// One order already ended: Flood leaves it alone.
	if err := v.Cancel(context.Background(), orders[0].ID); err != nil {
		t.Fatal(err)
	}
	before := v.Stats().Reports
	n, err := v.Flood(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := 49 * 10; n != want {
		t.Errorf("Flood generated %d fills; want %d", n, want)
	}
	if got := v.Stats().Reports - before; got != int64(n) {
		t.Errorf("%d reports appended; want the %d fills, at once", got, n)
	}
	for i, o := range orders[1:] {
		rec, _ := v.Order(o.ID)
		want := domain.Price(100_00)
		if o.Type == domain.Limit {
			want = 150_00 // resting orders fill at their limit
		}
		if rec.Status != domain.Filled || rec.CumQty != 25 || len(rec.Executions) != 10 {
			t.Fatalf("order %d: %+v; want filled in 10 executions", i+1, rec)
		}
		for _, e := range rec.Executions {
			if e.Price != want {
				t.Errorf("order %d: execution at %s; want %s", i+1, e.Price, want)
			}
		}
		checkReports(t, rec, reportsOf(t, v, o.ID))
	}
	if rec, _ := v.Order(orders[0].ID); rec.Status != domain.Canceled || len(rec.Executions) != 0 {
		t.Errorf("canceled order after Flood: %+v", rec)
	}
	// The fills go round the orders: the first 49 are one of each.
	rs, err := v.Reports(before+1, 49)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[domain.ID]bool{}
	for _, r := range rs {
		seen[r.OrderID] = true
	}
	if len(seen) != 49 {
		t.Errorf("the first 49 flood reports are about %d orders; want 49", len(seen))
	}
	// Nothing is left to flood.
	if n, err := v.Flood(10, 0); n != 0 || err != nil {
		t.Errorf("second Flood = %d, %v; want 0", n, err)
	}
}

func TestFloodSmallOrdersGetFewerFills(t *testing.T) {
	v, orders := workingVenue(t, 3, 0, 2)
	if n, err := v.Flood(5, 0); n != 6 || err != nil {
		t.Errorf("Flood = %d, %v; want 2 fills for each of 3 orders of 2", n, err)
	}
	for _, o := range orders {
		if rec := ended(t, v, o.ID); rec.Status != domain.Filled {
			t.Errorf("order %+v; want filled", rec)
		}
	}
}

func TestFloodPacesAtTheRate(t *testing.T) {
	v, orders := workingVenue(t, 20, 0, 10)
	before := v.Stats().Reports
	const rate = 2000
	began := time.Now()
	n, err := v.Flood(5, rate)
	if err != nil || n != 100 {
		t.Fatalf("Flood = %d, %v; want 100", n, err)
	}
	for _, o := range orders {
		ended(t, v, o.ID)
	}
	rs, err := v.Reports(before+1, n)
	if err != nil || len(rs) != n {
		t.Fatalf("Reports = %d, %v; want %d", len(rs), err, n)
	}
	// The k-th fill (from 0) is appended once rate × elapsed + 1 passes k;
	// timers never fire early, so the last has a floor (and no ceiling a
	// loaded machine would keep). Its time is truncated to the
	// microsecond.
	floor := time.Duration(float64(n-2) / rate * float64(time.Second))
	if took := rs[n-1].At.Sub(began); took < floor-time.Microsecond {
		t.Errorf("%d fills at %d a second were all in after %s; want at least %s", n, rate, took, floor)
	}
}

func TestFloodValidates(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{})
	for _, tt := range []struct {
		perOrder int
		rate     float64
	}{{0, 0}, {-1, 0}, {1, -1}, {1, math.NaN()}, {1, math.Inf(1)}} {
		if _, err := v.Flood(tt.perOrder, tt.rate); err == nil {
			t.Errorf("Flood(%d, %v) succeeded", tt.perOrder, tt.rate)
		}
	}
}
