package domain_test

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/domain"
)

func TestParseISIN(t *testing.T) {
	valid := []string{"US0378331005", "DE000BASF111", "GB0002634946", "US5949181045", "AU0000XVGZA3", "DE0007164600", "US88160R1014", "NL0000235190", "CH0038863350", "JP3633400001"}
	for _, s := range valid {
		t.Run("valid "+s, func(t *testing.T) {
			got, err := domain.ParseISIN(s)
			if err != nil || string(got) != s {
				t.Errorf("ParseISIN(%q) = %q, %v; want it back", s, got, err)
			}
		})
		// Every other check digit is wrong.
		for d := byte('0'); d <= '9'; d++ {
			if d == s[11] {
				continue
			}
			bad := s[:11] + string(d)
			if _, err := domain.ParseISIN(bad); err == nil {
				t.Errorf("ParseISIN(%q) accepted a wrong check digit", bad)
			}
		}
	}
	invalid := []struct{ in, why string }{
		{"", "empty"},
		{"US037833100", "11 characters"},
		{"US03783310055", "13 characters"},
		{"us0378331005", "lower-case country"},
		{"U10378331005", "digit in the country code"},
		{"US03783310a5", "lower-case body"},
		{"US-378331005", "punctuation"},
		{"US037833100X", "letter as check digit"},
		{"US037833100 ", "space"},
		{"ÜS0378331005", "non-ASCII"},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.why, func(t *testing.T) {
			_, err := domain.ParseISIN(tt.in)
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Field != "instrument" || !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("ParseISIN(%q) error = %v; want a ValidationError on instrument matching ErrInvalid", tt.in, err)
			}
		})
	}
}

func TestParsePrice(t *testing.T) {
	good := []struct {
		in    string
		cents int64
		out   string
	}{
		{"12.30", 1230, "12.30"},
		{"12.3", 1230, "12.30"},
		{"0.07", 7, "0.07"},
		{"1234567.89", 123456789, "1234567.89"},
		{"1.5e2", 15000, "150.00"},
		{"1E-2", 1, "0.01"},
		{"100", 10000, "100.00"},
		{"1.230", 123, "1.23"},
		{"0", 0, "0.00"},
		{"0.00", 0, "0.00"},
		{"999999999.99", 99999999999, "999999999.99"},
		{"12345e-2", 12345, "123.45"},
	}
	for _, tt := range good {
		t.Run(tt.in, func(t *testing.T) {
			p, err := domain.ParsePrice(tt.in)
			if err != nil {
				t.Fatalf("ParsePrice(%q) error %v", tt.in, err)
			}
			if p.Cents() != tt.cents || p.String() != tt.out {
				t.Errorf("ParsePrice(%q) = %d cents %q; want %d %q", tt.in, p.Cents(), p, tt.cents, tt.out)
			}
		})
	}
	bad := []string{"1.234", "0.001", "-1", "-0.01", "01", ".5", "5.", "1e", "1e+", "abc", "", " 1", "1 ", "1e1000", "999999999999", "1000000000.00", "1000000000", "0x10", "1,5", "+1", "NaN", "Infinity", "1.5e-3"}
	for _, in := range bad {
		t.Run("bad "+in, func(t *testing.T) {
			_, err := domain.ParsePrice(in)
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Field != "limit_price" {
				t.Errorf("ParsePrice(%q) error = %v; want a ValidationError on limit_price", in, err)
			}
		})
	}
}

func TestID(t *testing.T) {
	base := time.Date(2026, 11, 24, 10, 15, 30, 0, time.UTC)
	id := domain.NewID(base)
	s := id.String()
	if len(s) != 36 || s[14] != '7' || !strings.ContainsRune("89ab", rune(s[19])) {
		t.Errorf("NewID = %s; want a UUIDv7 with the RFC 9562 variant", s)
	}
	back, err := domain.ParseID(strings.ToUpper(s))
	if err != nil || back != id {
		t.Errorf("ParseID(upper %s) = %s, %v; want the same ID", s, back, err)
	}

	// IDs sort by creation time, also within one millisecond.
	var ids []string
	for i := range 50 {
		ids = append(ids, domain.NewID(base.Add(time.Duration(i)*37*time.Microsecond)).String())
	}
	if !sort.StringsAreSorted(ids) {
		t.Errorf("IDs created in time order do not sort in time order: %v", ids)
	}

	for _, bad := range []string{"", "0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c1", "0193a5c2x7d1e-7c3a-9b2f-1f6f0e2a8c11", "0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c1g", "{0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11}"} {
		_, err := domain.ParseID(bad)
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Field != "id" {
			t.Errorf("ParseID(%q) error = %v; want a ValidationError on id", bad, err)
		}
	}
}

func price(c int64) *domain.Price { p := domain.PriceFromCents(c); return &p }

func TestNew(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 15, 30, 123456789, time.FixedZone("CET", 3600))
	id := domain.NewID(now)
	limit := domain.Spec{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: price(12345), Quantity: 10}

	t.Run("valid limit order", func(t *testing.T) {
		got, err := domain.New(id, now, limit)
		if err != nil {
			t.Fatal(err)
		}
		want := domain.Order{
			ID: id, CreatedAt: time.Date(2026, 11, 24, 9, 15, 30, 123456000, time.UTC),
			Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: price(12345), Quantity: 10, Status: domain.Pending,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("New (-want +got):\n%s", diff)
		}
		if got.LimitPrice == limit.LimitPrice {
			t.Error("the order aliases the spec's price")
		}
	})

	t.Run("valid market order", func(t *testing.T) {
		got, err := domain.New(id, now, domain.Spec{Type: domain.Market, Side: domain.Sell, Instrument: "DE000BASF111", Quantity: 1})
		if err != nil || got.LimitPrice != nil || got.Status != domain.Pending {
			t.Errorf("New market = %+v, %v", got, err)
		}
	})

	bad := []struct {
		name   string
		edit   func(*domain.Spec)
		fields []string
	}{
		{"unknown type", func(s *domain.Spec) { s.Type = "stop" }, []string{"type"}},
		{"empty type", func(s *domain.Spec) { s.Type = "" }, []string{"type"}},
		{"unknown side", func(s *domain.Spec) { s.Side = "short" }, []string{"side"}},
		{"bad ISIN", func(s *domain.Spec) { s.Instrument = "US0378331006" }, []string{"instrument"}},
		{"limit without price", func(s *domain.Spec) { s.LimitPrice = nil }, []string{"limit_price"}},
		{"zero price", func(s *domain.Spec) { s.LimitPrice = price(0) }, []string{"limit_price"}},
		{"negative price", func(s *domain.Spec) { s.LimitPrice = price(-1) }, []string{"limit_price"}},
		{"price above max", func(s *domain.Spec) { s.LimitPrice = price(int64(domain.MaxPrice) + 1) }, []string{"limit_price"}},
		{"market with price", func(s *domain.Spec) { s.Type = domain.Market }, []string{"limit_price"}},
		{"quantity zero", func(s *domain.Spec) { s.Quantity = 0 }, []string{"quantity"}},
		{"quantity negative", func(s *domain.Spec) { s.Quantity = -5 }, []string{"quantity"}},
		{"quantity above max", func(s *domain.Spec) { s.Quantity = domain.MaxQuantity + 1 }, []string{"quantity"}},
		{"everything wrong", func(s *domain.Spec) { *s = domain.Spec{Type: "x", Side: "y", Instrument: "z"} }, []string{"type", "side", "instrument", "quantity"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			spec := limit
			tt.edit(&spec)
			_, err := domain.New(id, now, spec)
			var ves domain.ValidationErrors
			if !errors.As(err, &ves) || !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("error = %v; want ValidationErrors matching ErrInvalid", err)
			}
			var got []string
			for _, e := range ves {
				got = append(got, e.Field)
			}
			if diff := cmp.Diff(tt.fields, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			var one *domain.ValidationError
			if !errors.As(err, &one) || one.Field != tt.fields[0] {
				t.Errorf("errors.As found %v; want the first error", one)
			}
		})
	}

	t.Run("bounds are inclusive", func(t *testing.T) {
		for _, spec := range []domain.Spec{
			{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: price(1), Quantity: 1},
			{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: price(int64(domain.MaxPrice)), Quantity: domain.MaxQuantity},
		} {
			if _, err := domain.New(id, now, spec); err != nil {
				t.Errorf("New(%+v) = %v; want valid", spec, err)
			}
		}
	})
}

func FuzzParsePrice(f *testing.F) {
	for _, s := range []string{"12.30", "0.07", "1.5e2", "1E-2", "1.234", "-1", "999999999.99", "1e1000", "00", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := domain.ParsePrice(s)
		if err != nil {
			return
		}
		if p < 0 || p > domain.MaxPrice {
			t.Fatalf("ParsePrice(%q) = %d cents, out of range", s, p.Cents())
		}
		again, err := domain.ParsePrice(p.String())
		if err != nil || again != p {
			t.Fatalf("ParsePrice(%q) = %s, which parses back as %v, %v", s, p, again, err)
		}
	})
}

func FuzzParseISIN(f *testing.F) {
	for _, s := range []string{"US0378331005", "DE000BASF111", "AU0000XVGZA3", "US0378331006", "", "us0378331005"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		isin, err := domain.ParseISIN(s)
		if err != nil {
			return
		}
		if len(isin) != 12 || string(isin) != s {
			t.Fatalf("ParseISIN(%q) = %q", s, isin)
		}
		// Changing the check digit must break it.
		d := (s[11]-'0'+1)%10 + '0'
		if _, err := domain.ParseISIN(s[:11] + string(d)); err == nil {
			t.Fatalf("%q and %q both valid", s, s[:11]+string(d))
		}
	})
}
