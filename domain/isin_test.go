package domain_test

import (
	"errors"
	"testing"

	"github.com/ordergate/ordergate/domain"
)

// realISINs are ISINs of listed securities; between them they cover letters
// in the body, letters next to the check digit and every check digit value
// except 2.
var realISINs = []struct{ isin, name string }{
	{"US0378331005", "Apple"},
	{"DE000BASF111", "BASF"},
	{"GB0002634946", "BAE Systems"},
	{"US5949181045", "Microsoft"},
	{"AU0000XVGZA3", "Treasury Corporation of Victoria"},
	{"DE0007164600", "SAP"},
	{"US88160R1014", "Tesla"},
	{"NL0000235190", "Airbus"},
	{"CH0038863350", "Nestlé"},
	{"JP3633400001", "Toyota"},
	{"US02079K3059", "Alphabet class A"},
	{"US0231351067", "Amazon"},
	{"US30303M1027", "Meta Platforms"},
	{"US67066G1040", "NVIDIA"},
	{"IE00B4L5Y983", "iShares Core MSCI World"},
	{"FR0000120271", "TotalEnergies"},
	{"DE0007236101", "Siemens"},
	{"GB0005405286", "HSBC"},
}

func TestParseISINAcceptsRealISINs(t *testing.T) {
	for _, tt := range realISINs {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.ParseISIN(tt.isin)
			if err != nil {
				t.Fatalf("ParseISIN(%q) error: %v", tt.isin, err)
			}
			if want := domain.ISIN(tt.isin); got != want {
				t.Errorf("ParseISIN(%q) = %q; want %q", tt.isin, got, want)
			}
		})
	}
}

func TestParseISINRejectsEveryWrongCheckDigit(t *testing.T) {
	for _, tt := range realISINs {
		t.Run(tt.name, func(t *testing.T) {
			for d := byte('0'); d <= '9'; d++ {
				if d == tt.isin[11] {
					continue
				}
				assertInstrumentError(t, tt.isin[:11]+string(d))
			}
		})
	}
}

func TestParseISINRejectsMalformed(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"11 characters", "US037833100"},
		{"13 characters", "US03783310050"},
		{"24 characters", "US0378331005US0378331005"},
		{"lower-case country", "us0378331005"},
		{"half lower-case country", "uS0378331005"},
		{"lower-case body", "DE000basf111"},
		{"digit in country code", "U10378331005"},
		{"digits as country code", "120378331005"},
		{"hyphen", "US-378331005"},
		{"full stop", "US037833.005"},
		{"space inside", "US 378331005"},
		{"trailing space", "US037833100 "},
		{"leading space", " US037833100"},
		{"letter as check digit", "US037833100X"},
		{"lower-case check letter", "US037833100a"},
		{"non-ASCII", "ÜS0378331005"},
		{"NUL byte", "US037833100\x00"},
		{"valid ISIN with a space appended", "US0378331005 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assertInstrumentError(t, tt.in) })
	}
}

// assertInstrumentError checks ParseISIN refuses s the way the HTTP adapter
// needs: a *ValidationError naming the instrument field, matching ErrInvalid.
func assertInstrumentError(t *testing.T, s string) {
	t.Helper()
	got, err := domain.ParseISIN(s)
	if err == nil {
		t.Errorf("ParseISIN(%q) = %q, nil; want an error", s, got)
		return
	}
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("ParseISIN(%q) error %v (%T); want a *domain.ValidationError", s, err, err)
		return
	}
	if ve.Field != "instrument" || ve.Reason == "" {
		t.Errorf("ParseISIN(%q) error field %q reason %q; want field %q and a reason", s, ve.Field, ve.Reason, "instrument")
	}
	if !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("ParseISIN(%q) error %v does not match domain.ErrInvalid", s, err)
	}
	if got != "" {
		t.Errorf("ParseISIN(%q) returned %q with its error; want the zero ISIN", s, got)
	}
}
