package domain_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/domain"
)

// orderNow has nanoseconds and a zone, to show New keeps microseconds in UTC.
var orderNow = time.Date(2026, 11, 24, 11, 15, 30, 123456789, time.FixedZone("CET", 3600))

func price(cents int64) *domain.Price {
	p := domain.PriceFromCents(cents)
	return &p
}

func limitSpec() domain.Spec {
	return domain.Spec{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: price(12345), Quantity: 10}
}

func marketSpec() domain.Spec {
	return domain.Spec{Type: domain.Market, Side: domain.Sell, Instrument: "DE000BASF111", Quantity: 1}
}

func TestNewValid(t *testing.T) {
	id := domain.NewID(orderNow)
	wantTime := time.Date(2026, 11, 24, 10, 15, 30, 123456000, time.UTC)
	tests := []struct {
		name string
		spec domain.Spec
		want domain.Order
	}{
		{"limit buy", limitSpec(), domain.Order{
			ID: id, CreatedAt: wantTime, UpdatedAt: wantTime, Type: domain.Limit, Side: domain.Buy,
			Instrument: "US0378331005", LimitPrice: price(12345), Quantity: 10, Status: domain.Pending,
		}},
		{"market sell", marketSpec(), domain.Order{
			ID: id, CreatedAt: wantTime, UpdatedAt: wantTime, Type: domain.Market, Side: domain.Sell,
			Instrument: "DE000BASF111", Quantity: 1, Status: domain.Pending,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.New(id, orderNow, tt.spec)
			if err != nil {
				t.Fatalf("New error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("New mismatch (-want +got):\n%s", diff)
			}
			// cmp compares times with Equal, which ignores the zone and
			// the monotonic reading; stores and JSON see both.
			if got.CreatedAt.Location() != time.UTC || got.CreatedAt != wantTime || got.UpdatedAt != wantTime {
				t.Errorf("CreatedAt = %#v, UpdatedAt = %#v; want exactly %v", got.CreatedAt, got.UpdatedAt, wantTime)
			}
		})
	}
}

func TestNewDropsTheMonotonicClock(t *testing.T) {
	now := time.Now() // carries a monotonic reading
	o, err := domain.New(domain.NewID(now), now, limitSpec())
	if err != nil {
		t.Fatal(err)
	}
	if want := now.UTC().Round(0).Truncate(time.Microsecond); o.CreatedAt != want || o.UpdatedAt != want {
		t.Errorf("CreatedAt = %#v, UpdatedAt = %#v; want %#v", o.CreatedAt, o.UpdatedAt, want)
	}
}

func TestNewCopiesTheLimitPrice(t *testing.T) {
	spec := limitSpec()
	o, err := domain.New(domain.NewID(orderNow), orderNow, spec)
	if err != nil {
		t.Fatal(err)
	}
	if o.LimitPrice == spec.LimitPrice {
		t.Fatal("the order shares the spec's *Price")
	}
	*spec.LimitPrice = domain.PriceFromCents(1)
	if got, want := *o.LimitPrice, domain.PriceFromCents(12345); got != want {
		t.Errorf("after changing the spec, the order's price is %s; want %s", got, want)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		spec func() domain.Spec
		edit func(*domain.Spec)
		want []string // the fields at fault, in order
	}{
		{"unknown type", limitSpec, func(s *domain.Spec) { s.Type = "stop" }, []string{"type"}},
		{"empty type", limitSpec, func(s *domain.Spec) { s.Type = "" }, []string{"type"}},
		{"upper-case type", limitSpec, func(s *domain.Spec) { s.Type = "LIMIT" }, []string{"type"}},
		{"unknown side", limitSpec, func(s *domain.Spec) { s.Side = "short" }, []string{"side"}},
		{"empty side", marketSpec, func(s *domain.Spec) { s.Side = "" }, []string{"side"}},
		{"wrong check digit", limitSpec, func(s *domain.Spec) { s.Instrument = "US0378331006" }, []string{"instrument"}},
		{"lower-case ISIN", marketSpec, func(s *domain.Spec) { s.Instrument = "de000basf111" }, []string{"instrument"}},
		{"empty instrument", marketSpec, func(s *domain.Spec) { s.Instrument = "" }, []string{"instrument"}},
		{"limit without a price", limitSpec, func(s *domain.Spec) { s.LimitPrice = nil }, []string{"limit_price"}},
		{"limit price zero", limitSpec, func(s *domain.Spec) { s.LimitPrice = price(0) }, []string{"limit_price"}},
		{"limit price negative", limitSpec, func(s *domain.Spec) { s.LimitPrice = price(-1) }, []string{"limit_price"}},
		{"limit price above MaxPrice", limitSpec, func(s *domain.Spec) { s.LimitPrice = price(int64(domain.MaxPrice) + 1) }, []string{"limit_price"}},
		{"market with a price", marketSpec, func(s *domain.Spec) { s.LimitPrice = price(100) }, []string{"limit_price"}},
		{"market with a zero price", marketSpec, func(s *domain.Spec) { s.LimitPrice = price(0) }, []string{"limit_price"}},
		{"quantity zero", limitSpec, func(s *domain.Spec) { s.Quantity = 0 }, []string{"quantity"}},
		{"quantity negative", limitSpec, func(s *domain.Spec) { s.Quantity = -5 }, []string{"quantity"}},
		{"quantity above MaxQuantity", limitSpec, func(s *domain.Spec) { s.Quantity = domain.MaxQuantity + 1 }, []string{"quantity"}},
		{"every field wrong", limitSpec, func(s *domain.Spec) {
			*s = domain.Spec{Type: "x", Side: "y", Instrument: "z", Quantity: -1}
		}, []string{"type", "side", "instrument", "quantity"}},
		{"limit order with everything but type wrong", limitSpec, func(s *domain.Spec) {
			*s = domain.Spec{Type: domain.Limit, Side: "y", Instrument: "z", LimitPrice: price(0)}
		}, []string{"limit_price", "side", "instrument", "quantity"}},
		{"market order with a price and no quantity", marketSpec, func(s *domain.Spec) {
			s.LimitPrice, s.Quantity = price(5), 0
		}, []string{"limit_price", "quantity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec()
			tt.edit(&spec)
			got, err := domain.New(domain.NewID(orderNow), orderNow, spec)
			if err == nil {
				t.Fatalf("New(%+v) = %+v, nil; want an error", spec, got)
			}
			if diff := cmp.Diff(domain.Order{}, got); diff != "" {
				t.Errorf("New returned an order with its error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("error %v does not match domain.ErrInvalid", err)
			}
			var all domain.ValidationErrors
			if !errors.As(err, &all) {
				t.Fatalf("error %v (%T); want domain.ValidationErrors", err, err)
			}
			var fields []string
			for _, ve := range all {
				if ve.Reason == "" {
					t.Errorf("field %s has no reason", ve.Field)
				}
				fields = append(fields, ve.Field)
			}
			if diff := cmp.Diff(tt.want, fields); diff != "" {
				t.Errorf("fields at fault (-want +got):\n%s", diff)
			}
			// Callers that handle one error at a time still find the first.
			var one *domain.ValidationError
			if !errors.As(err, &one) || one.Field != tt.want[0] {
				t.Errorf("errors.As found %v; want the error on %s", one, tt.want[0])
			}
		})
	}
}

func TestNewBounds(t *testing.T) {
	tests := []struct {
		name     string
		quantity int64
		cents    int64
		bad      string // the field at fault, or "" for a valid order
	}{
		{"quantity 0", 0, 100, "quantity"},
		{"quantity 1", 1, 100, ""},
		{"quantity MaxQuantity", domain.MaxQuantity, 100, ""},
		{"quantity MaxQuantity+1", domain.MaxQuantity + 1, 100, "quantity"},
		{"price 0", 1, 0, "limit_price"},
		{"price 0.01", 1, 1, ""},
		{"price MaxPrice", 1, int64(domain.MaxPrice), ""},
		{"price MaxPrice+0.01", 1, int64(domain.MaxPrice) + 1, "limit_price"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := limitSpec()
			spec.Quantity, spec.LimitPrice = tt.quantity, price(tt.cents)
			o, err := domain.New(domain.NewID(orderNow), orderNow, spec)
			if tt.bad == "" {
				if err != nil {
					t.Fatalf("New error: %v; want a valid order", err)
				}
				if o.Quantity != tt.quantity || o.LimitPrice.Cents() != tt.cents {
					t.Errorf("order has quantity %d price %s; want %d and %d cents", o.Quantity, o.LimitPrice, tt.quantity, tt.cents)
				}
				return
			}
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.bad {
				t.Errorf("New error %v; want a ValidationError on %s", err, tt.bad)
			}
		})
	}
}

func TestBoundsMatchTheirMessages(t *testing.T) {
	if got, want := domain.MaxPrice.String(), "999999999.99"; got != want {
		t.Errorf("MaxPrice = %s; want %s", got, want)
	}
	if got, want := strconv.Itoa(domain.MaxQuantity), "1000000000"; got != want {
		t.Errorf("MaxQuantity = %s; want %s", got, want)
	}
}
