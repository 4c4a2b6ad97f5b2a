package domain_test

import (
	"errors"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

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

// FuzzApply decodes its input into one order's life at a consistent
// exchange (a history), delivers the history shuffled and with duplicates,
// and checks every step keeps the invariants and the end is the same as
// delivering the history in order, and as the exchange's own record.
func FuzzApply(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{9, 0, 0, 1, 2, 3, 4},                 // filled in pieces, in order
		{9, 0, 0, 1, 3, 7, 5, 3, 1, 2, 0, 1},  // filled, shuffled
		{9, 1, 0, 2, 2, 3, 200, 1, 9, 4, 3},   // large order canceled after fills
		{4, 0, 1, 3, 1, 1, 0, 0, 0, 0},        // expired while cancel pending
		{4, 0, 0, 4, 0},                       // rejected
		{4, 0, 4, 4, 0, 1, 1},                 // rejected by the feed and the dispatcher
		{7, 0, 9, 0, 2, 5, 5, 1, 0, 2, 2},     // cancel refused, still working
		{7, 0, 13, 1, 3, 5, 5, 5, 9, 8, 7, 6}, // cancel refused, then filled
		{7, 0, 6, 2, 1, 2, 0, 3, 1, 0, 1, 1},  // refused call, acknowledged, canceled
		{7, 0, 6, 0, 2, 2, 1, 4, 4, 4, 0, 0},  // refused call, acknowledged, working
		{1, 0, 0, 1, 1, 0, 0},                 // quantity 1
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := decodeHistory(t, data)
		inOrder := run(t, h.start, h.inputs...)
		delivered := run(t, h.start, h.delivered...)
		if diff := cmp.Diff(outcomeOf(inOrder), outcomeOf(delivered)); diff != "" {
			t.Fatalf("history %s delivered as %s (-in order +delivered):\n%s", names(h.inputs), names(h.delivered), diff)
		}
		if got := outcomeOf(delivered); got.Status != h.status || got.Filled != h.filled {
			t.Fatalf("history %s delivered as %s: %s, filled %d; the exchange has %s, filled %d",
				names(h.inputs), names(h.delivered), got.Status, got.Filled, h.status, h.filled)
		}
		// One more unit than is left is always refused, and changes nothing.
		v := h.venue
		extra := v.fill(delivered.Quantity-delivered.FilledQuantity()+1, 10000)
		if got, events, err := extra.do(delivered); !errors.Is(err, domain.ErrOverfill) || events != nil || !cmp.Equal(got, delivered) {
			t.Fatalf("overfill of %s order: error %v, events %v", delivered.Status, err, events)
		}
	})
}

// history is one order's life at the exchange, as the venue records it.
type history struct {
	start     domain.Order
	venue     *venue
	inputs    []input // in the venue's order
	delivered []input // as the feed delivers them: shuffled, duplicated
	status    domain.Status
	filled    int64
}

// decodeHistory reads a history from data. Bytes past the end read as 0.
func decodeHistory(t *testing.T, data []byte) history {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	qty := int64(1 + next()%16)
	if next()%2 == 1 {
		qty *= 50_000_000 // up to 8e8: notional sums beyond 2^63
	}
	flags, ending := next(), next()%5
	cancelled := flags&1 != 0        // the client asked to cancel first
	dispatcherAck := flags&2 != 0    // the dispatcher's ack as well as the feed's
	dispatcherReject := flags&4 != 0 // the dispatcher's refusal as well
	cancelRefused := flags&8 != 0    // the exchange refuses the cancel
	prices := []int64{1, 9_999, 10_000, 10_001, 12_345, int64(domain.MaxPrice)}

	o := newOrder(t, qty)
	h := history{venue: &venue{o: o}}
	v := h.venue
	if cancelled {
		o, _, _ = domain.RequestCancel(o, true, t0)
	}
	h.start = o
	if ending == 4 {
		h.inputs = []input{v.rejected()}
		if dispatcherReject {
			h.inputs = append(h.inputs, reject)
		}
		h.status = domain.Rejected
	} else {
		h.inputs = []input{v.ack()}
		if dispatcherAck {
			h.inputs = append(h.inputs, acknowledge)
		}
		// A refusal contradicting the acknowledgement forgets a pending
		// cancel (see the table), so it is only tested without one.
		if dispatcherReject && !cancelled {
			h.inputs = append(h.inputs, reject)
		}
		// Fills: all of the quantity when the order ends filled, less
		// otherwise.
		left := qty
		if ending != 1 {
			left = qty - 1
		}
		for n := next() % 4; left > 0 && (n > 0 || ending == 1); n-- {
			part := 1 + int64(next())*left/256
			if n <= 1 && ending == 1 {
				part = left
			}
			h.inputs = append(h.inputs, v.fill(part, prices[next()%len(prices)]))
			h.filled += part
			left -= part
		}
		if cancelled && cancelRefused && (ending == 0 || ending == 1) {
			h.inputs = append(h.inputs, v.cancelRejected())
		}
		switch ending {
		case 0:
			switch {
			case cancelled && !cancelRefused:
				h.status = domain.PendingCancel
			case h.filled > 0:
				h.status = domain.PartiallyFilled
			default:
				h.status = domain.Placed
			}
		case 1:
			h.status = domain.Filled
		case 2:
			h.inputs = append(h.inputs, v.canceled())
			h.status = domain.Canceled
		case 3:
			h.inputs = append(h.inputs, v.expired())
			h.status = domain.Expired
		}
	}
	// The rest of data shuffles (Fisher-Yates) and then duplicates.
	h.delivered = slices.Clone(h.inputs)
	for i := len(h.delivered) - 1; i > 0; i-- {
		j := next() % (i + 1)
		h.delivered[i], h.delivered[j] = h.delivered[j], h.delivered[i]
	}
	for range 16 {
		if len(data) == 0 {
			break
		}
		dup := h.delivered[next()%len(h.delivered)]
		h.delivered = slices.Insert(h.delivered, next()%(len(h.delivered)+1), dup)
	}
	return h
}
