package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// t0 is when the orders of these tests were created.
var t0 = time.Date(2026, 11, 24, 10, 15, 30, 123456000, time.UTC)

// fill is one execution at price, written as text, sec seconds after t0.
func fill(t *testing.T, execID string, qty int64, price string, sec float64) domain.Fill {
	t.Helper()
	p, err := domain.ParsePrice(price)
	if err != nil {
		t.Fatal(err)
	}
	return domain.Fill{ExecID: execID, Quantity: qty, Price: p, ExecutedAt: t0.Add(time.Duration(sec * float64(time.Second)))}
}

// stored is a limit buy of 10 at 123.45 as a store holds it after the
// exchange's reports: with status and fills, acknowledged unless pending.
func stored(t *testing.T, status domain.Status, fills ...domain.Fill) domain.Order {
	t.Helper()
	limit := domain.Price(123_45)
	o, err := domain.New(domain.NewID(t0), t0, domain.Spec{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: &limit, Quantity: 10})
	if err != nil {
		t.Fatal(err)
	}
	o.Status, o.Fills, o.UpdatedAt = status, fills, t0.Add(2*time.Second)
	if status != domain.Pending {
		o.PlacementAttempts, o.PlacedAt = 1, t0.Add(500*time.Millisecond)
	}
	return o
}

// orderFields are the fields of every order answer (CONTRACT §2.3).
var orderFields = []string{
	"id", "created_at", "updated_at", "type", "side", "instrument", "limit_price", "quantity", "status",
	"filled_quantity", "average_fill_price", "placement_attempts", "placed_at", "last_error",
}

// rawOrder decodes one order answer into its raw field texts and checks it
// has exactly the contract's fields.
func rawOrder(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("order %s: %v", b, err)
	}
	return rawFields(t, m)
}

func rawFields(t *testing.T, m map[string]json.RawMessage) map[string]string {
	t.Helper()
	out := make(map[string]string, len(m))
	var names []string
	for k, v := range m {
		out[k] = string(v)
		names = append(names, k)
	}
	slices.Sort(names)
	want := slices.Clone(orderFields)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("order fields = %v; want %v", names, want)
	}
	return out
}

func TestOrderAnswersCarryFillsAndUpdatedAt(t *testing.T) {
	partly := stored(t, domain.PartiallyFilled,
		fill(t, "s1-1", 1, "99.99", 0.6), fill(t, "s1-2", 2, "100.00", 0.7), fill(t, "s1-3", 3, "100.01", 0.8))
	even := stored(t, domain.Filled,
		fill(t, "s1-4", 5, "99.99", 0.6), fill(t, "s1-5", 5, "100.01", 0.7))
	working := stored(t, domain.Placed)
	f := newFixture(t, memOrders(partly, even, working), pinger{})

	// The domain computes the average; the API writes its exact text.
	if avg, _ := partly.AverageFillPrice(); avg.String() != "100.003333" {
		t.Fatalf("domain average of the fixture = %s; want 100.003333", avg)
	}
	tests := []struct {
		name       string
		o          domain.Order
		wantFilled string
		wantAvg    string
		wantStatus string
	}{
		{"partially filled, average rounded to 6 places", partly, "6", "100.003333", `"partially_filled"`},
		{"filled, average keeps two places", even, "10", "100.00", `"filled"`},
		{"nothing filled", working, "0", "null", `"placed"`},
	}
	list := f.api.Get("/orders")
	if list.Code != http.StatusOK {
		t.Fatalf("GET /orders = %d %s", list.Code, list.Body)
	}
	var page struct {
		Orders []map[string]json.RawMessage `json:"orders"`
	}
	if err := json.Unmarshal(list.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.api.Get("/orders/" + tt.o.ID.String())
			if resp.Code != http.StatusOK {
				t.Fatalf("GET = %d %s", resp.Code, resp.Body)
			}
			answers := map[string]map[string]string{"get-order": rawOrder(t, resp.Body.Bytes())}
			for _, o := range page.Orders {
				if string(o["id"]) == `"`+tt.o.ID.String()+`"` {
					answers["list-orders"] = rawFields(t, o)
				}
			}
			if len(answers) != 2 {
				t.Fatalf("list-orders does not show the order: %s", list.Body)
			}
			for op, got := range answers {
				want := map[string]string{
					"filled_quantity":    tt.wantFilled,
					"average_fill_price": tt.wantAvg,
					"status":             tt.wantStatus,
					"created_at":         `"2026-11-24T10:15:30.123456Z"`,
					"updated_at":         `"2026-11-24T10:15:32.123456Z"`,
					"placed_at":          `"2026-11-24T10:15:30.623456Z"`,
					"placement_attempts": "1",
					"last_error":         "null",
					"limit_price":        "123.45",
				}
				for field, w := range want {
					if got[field] != w {
						t.Errorf("%s: %s = %s; want %s", op, field, got[field], w)
					}
				}
			}
		})
	}
}

func TestPlaceOrderAnswersNothingFilledYet(t *testing.T) {
	f := newFixture(t, memOrders(), pinger{})
	resp := f.api.Post("/orders", jsonCT, strings.NewReader(`{"type":"market","side":"buy","instrument":"US0378331005","quantity":3}`))
	if resp.Code != http.StatusCreated {
		t.Fatalf("POST = %d %s", resp.Code, resp.Body)
	}
	got := rawOrder(t, resp.Body.Bytes())
	for field, want := range map[string]string{
		"status": `"pending"`, "filled_quantity": "0", "average_fill_price": "null",
		"placement_attempts": "0", "placed_at": "null", "last_error": "null", "limit_price": "null",
	} {
		if got[field] != want {
			t.Errorf("%s = %s; want %s", field, got[field], want)
		}
	}
	if got["updated_at"] != got["created_at"] {
		t.Errorf("updated_at = %s; want created_at %s", got["updated_at"], got["created_at"])
	}
}
