package domain_test

import (
	"math/big"
	"regexp"
	"strconv"
	"testing"

	"github.com/ordergate/ordergate/domain"
)

// jsonNumber is RFC 8259's number grammar, which ParsePrice implements by hand.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE]([+-]?[0-9]+))?$`)

// FuzzParsePrice checks ParsePrice against math/big: whatever JSON number
// it accepts must equal its cents exactly, and whatever it refuses must be
// negative, finer than a cent, above MaxPrice, or have an exponent beyond
// ±100 (which ParsePrice refuses to bound its work).
func FuzzParsePrice(f *testing.F) {
	for _, s := range []string{
		"12.30", "0.07", "1.5e2", "1E-2", "100", "1.230", "0", "0.00", "999999999.99",
		"1.234", "-1", "-0", "01", ".5", "5.", "1e", "1e1000", "1000000000.00", "0.001e1", "10e-1",
	} {
		f.Add(s)
	}
	maxPrice := big.NewRat(int64(domain.MaxPrice), 100)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := domain.ParsePrice(s)

		want, ok := new(big.Rat), false
		if m := jsonNumber.FindStringSubmatch(s); m != nil && s[0] != '-' {
			exp, _ := strconv.Atoi(m[4]) // "" parses as an error and 0
			if m[4] == "" || (exp >= -100 && exp <= 100) {
				want.SetString(s)
				cents := new(big.Rat).Mul(want, big.NewRat(100, 1))
				ok = cents.IsInt() && want.Cmp(maxPrice) <= 0
			}
		}

		if err != nil {
			if ok {
				t.Fatalf("ParsePrice(%q) error %v; want %s", s, err, want.FloatString(2))
			}
			return
		}
		if !ok {
			t.Fatalf("ParsePrice(%q) = %s; want an error", s, p)
		}
		if got := big.NewRat(p.Cents(), 100); got.Cmp(want) != 0 {
			t.Fatalf("ParsePrice(%q) = %s; want %s", s, got.FloatString(2), want.FloatString(2))
		}
		again, err := domain.ParsePrice(p.String())
		if err != nil || again != p {
			t.Fatalf("ParsePrice(%q) = %s, which parses back as %s, %v", s, p, again, err)
		}
	})
}

// FuzzParseISIN checks ParseISIN against a second implementation of ISO 6166
// that validates the whole number with Luhn instead of computing the check
// digit, and that changing any one character breaks a valid ISIN.
func FuzzParseISIN(f *testing.F) {
	for _, s := range []string{
		"US0378331005", "DE000BASF111", "AU0000XVGZA3", "US88160R1014", "IE00B4L5Y983",
		"US0378331006", "us0378331005", "", "US037833100X", "ÜS0378331005",
	} {
		f.Add(s)
	}
	shape := regexp.MustCompile(`^[A-Z]{2}[A-Z0-9]{9}[0-9]$`)
	f.Fuzz(func(t *testing.T, s string) {
		isin, err := domain.ParseISIN(s)
		want := shape.MatchString(s) && luhnValid(s)
		if (err == nil) != want {
			t.Fatalf("ParseISIN(%q) = %q, %v; the reference says valid=%v", s, isin, err, want)
		}
		if err != nil {
			return
		}
		if string(isin) != s {
			t.Fatalf("ParseISIN(%q) = %q", s, isin)
		}
		d := (s[11]-'0'+1)%10 + '0'
		if _, err := domain.ParseISIN(s[:11] + string(d)); err == nil {
			t.Fatalf("%q and %q are both valid", s, s[:11]+string(d))
		}
	})
}

// luhnValid expands letters to their two-digit values (A=10 ... Z=35) and
// checks the Luhn sum of all the digits, check digit included, is a
// multiple of 10.
func luhnValid(s string) bool {
	var digits []int
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, int(c-'0'))
		case c >= 'A' && c <= 'Z':
			v := int(c-'A') + 10
			digits = append(digits, v/10, v%10)
		default:
			return false
		}
	}
	sum := 0
	for i := range digits {
		d := digits[len(digits)-1-i]
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
