package domain_test

import (
	"errors"
	"math"
	"testing"

	"github.com/ordergate/ordergate/domain"
)

func TestParsePriceIsExact(t *testing.T) {
	tests := []struct {
		in    string
		cents int64
	}{
		{"12.30", 1230},
		{"12.3", 1230},
		{"0.07", 7},
		{"0.1", 10},
		{"0.01", 1},
		{"1234567.89", 123456789},
		{"1.5e2", 15000},
		{"1.5E+2", 15000},
		{"1E-2", 1},
		{"12345e-2", 12345},
		{"0.5e1", 500},
		{"100", 10000},
		{"1.230", 123},
		{"1.2300000000000000000000", 123},
		{"0", 0},
		{"0.00", 0},
		{"0e5", 0},
		{"999999999.99", 99999999999},
		{"99999999999e-2", 99999999999},
		{"0.00000000001e9", 1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := domain.ParsePrice(tt.in)
			if err != nil {
				t.Fatalf("ParsePrice(%q) error: %v", tt.in, err)
			}
			if got := p.Cents(); got != tt.cents {
				t.Errorf("ParsePrice(%q) = %d cents; want %d", tt.in, got, tt.cents)
			}
		})
	}
}

func TestParsePriceRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"three decimal places", "1.234"},
		{"a tenth of a cent", "0.001"},
		{"exponent leaves three places", "1.5e-3"},
		{"negative", "-1"},
		{"negative cent", "-0.01"},
		{"negative zero", "-0"},
		{"explicit plus", "+1"},
		{"leading zero", "01"},
		{"double zero", "00"},
		{"no integer part", ".5"},
		{"no fraction digits", "5."},
		{"no exponent digits", "1e"},
		{"exponent sign only", "1e+"},
		{"letters", "abc"},
		{"empty", ""},
		{"leading space", " 1"},
		{"trailing space", "1 "},
		{"hexadecimal", "0x10"},
		{"decimal comma", "1,5"},
		{"thousands separator", "1,000.00"},
		{"NaN", "NaN"},
		{"infinity", "Infinity"},
		{"huge exponent", "1e1000"},
		{"exponent beyond int", "1e99999999999999999999"},
		{"twelve digits", "999999999999"},
		{"just above MaxPrice", "1000000000.00"},
		{"a cent above MaxPrice", "1000000000.01"},
		{"MaxPrice plus one in cents", "100000000000e-2"},
		{"ten digits", "1000000000"},
		{"quoted", `"12.30"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := domain.ParsePrice(tt.in)
			if err == nil {
				t.Fatalf("ParsePrice(%q) = %s, nil; want an error", tt.in, p)
			}
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Field != "limit_price" || ve.Reason == "" {
				t.Errorf("ParsePrice(%q) error %v; want a *ValidationError on limit_price with a reason", tt.in, err)
			}
			if !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("ParsePrice(%q) error %v does not match domain.ErrInvalid", tt.in, err)
			}
		})
	}
}

func TestPriceString(t *testing.T) {
	tests := []struct {
		cents int64
		want  string
	}{
		{1230, "12.30"},
		{7, "0.07"},
		{10000, "100.00"},
		{0, "0.00"},
		{1, "0.01"},
		{10, "0.10"},
		{123456789, "1234567.89"},
		{int64(domain.MaxPrice), "999999999.99"},
		// Prices below zero never parse, but PriceFromCents can make them.
		{-7, "-0.07"},
		{-1230, "-12.30"},
		{math.MinInt64, "-92233720368547758.08"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			p := domain.PriceFromCents(tt.cents)
			if got := p.String(); got != tt.want {
				t.Errorf("PriceFromCents(%d).String() = %q; want %q", tt.cents, got, tt.want)
			}
			if got := string(p.AppendText([]byte("x="))); got != "x="+tt.want {
				t.Errorf("AppendText = %q; want %q", got, "x="+tt.want)
			}
		})
	}
}
