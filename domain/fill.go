package domain

import (
	"math/bits"
	"strconv"
	"time"
)

// Fill is one execution of part or all of an order at the exchange.
type Fill struct {
	// ExecID is the exchange's identifier of the execution, unique across
	// its orders; a fill seen twice is recognised by it.
	ExecID     string
	Quantity   int64
	Price      Price
	ExecutedAt time.Time
}

// FilledQuantity returns the sum of o's fills.
func (o Order) FilledQuantity() int64 {
	var n int64
	for _, f := range o.Fills {
		n += f.Quantity
	}
	return n
}

// AverageFillPrice returns the quantity-weighted mean price of o's fills,
// exact, or rounded half-even to six decimal places where it does not
// terminate. It reports false while nothing is filled.
func (o Order) AverageFillPrice() (Decimal, bool) {
	var t FillTotals
	for _, f := range o.Fills {
		t.Add(f.Quantity, f.Price)
	}
	return t.Average()
}

// FillTotals is what fills add up to: their quantity and Σ quantity ×
// price. The zero value is no fill.
type FillTotals struct {
	// Σ quantity × cents passes 2^63 for large orders (1e9 × 999999999.99
	// is about 1e20), so it is summed in 128 bits.
	qty, hi, lo uint64
}

// Add counts a fill of qty shares at price p; both are positive in any
// valid fill (Report.Validate).
func (t *FillTotals) Add(qty int64, p Price) {
	h, l := bits.Mul64(uint64(qty), uint64(p)) //nolint:gosec // G115: positive, as said
	var carry uint64
	t.lo, carry = bits.Add64(t.lo, l, 0)
	t.hi += h + carry
	t.qty += uint64(qty) //nolint:gosec // G115: as above
}

// Equivalent returns at most two fills with the same quantity and the same
// Σ quantity × price as the fills counted, so the same FilledQuantity and
// the same exact AverageFillPrice: q-r shares at the mean rounded down to
// the cent, p, and r at p+1, r being the remainder. They have no exec ID
// or time. It reports false if nothing was counted or the sum is beyond
// any price (not from valid fills).
func (t FillTotals) Equivalent() ([]Fill, bool) {
	if t.qty == 0 || t.hi >= t.qty {
		return nil, false
	}
	p, r := bits.Div64(t.hi, t.lo, t.qty)
	out := []Fill{{Quantity: int64(t.qty - r), Price: Price(p)}} //nolint:gosec // G115: shares and a mean of valid prices
	if r > 0 {
		out = append(out, Fill{Quantity: int64(r), Price: Price(p + 1)}) //nolint:gosec // G115: as above
	}
	return out, true
}

// Average returns the quantity-weighted mean price, as
// Order.AverageFillPrice does; false if nothing was counted.
func (t FillTotals) Average() (Decimal, bool) {
	hi, lo, qty := t.hi, t.lo, t.qty
	if qty == 0 {
		return 0, false
	}
	// In millionths, the mean is Σ × 10^4 / qty. With prices at most
	// MaxPrice it stays below 10^15, so only the low word of the quotient
	// is kept, and hi % qty only guards bits.Div64 against a panic.
	h, l := bits.Mul64(lo, 10_000)
	hi, lo = hi*10_000+h, l
	q, r := bits.Div64(hi%qty, lo, qty)
	if r > qty-r || (r == qty-r && q%2 == 1) {
		q++
	}
	return Decimal(q), true //nolint:gosec // G115: below 10^15, see above
}

// Decimal is an exact decimal number with six decimal places, held as a
// count of millionths: Decimal(100_125_000) is 100.125.
type Decimal int64

// String formats d in the shortest exact form with at least two decimal
// places: "100.00", "100.125", "33.333333".
func (d Decimal) String() string {
	return string(d.AppendText(nil))
}

// AppendText appends the String form of d to b.
func (d Decimal) AppendText(b []byte) []byte {
	// Unsigned, so that negating math.MinInt64 cannot overflow.
	u := uint64(d) //nolint:gosec // G115: the two's-complement bits on purpose; negated below
	if d < 0 {
		b = append(b, '-')
		u = -u
	}
	b = strconv.AppendUint(b, u/1_000_000, 10)
	b = append(b, '.')
	// Two digits always, then more while any non-zero digit is left.
	frac := u % 1_000_000
	for div := uint64(100_000); div > 0 && (div >= 10_000 || frac != 0); div /= 10 {
		b = append(b, byte('0'+frac/div)) //nolint:gosec // G115: one digit, 0 to 9
		frac %= div
	}
	return b
}
