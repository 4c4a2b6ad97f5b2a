package domain

import (
	"strconv"
)

// MaxPrice is the largest limit price ordergate accepts, in cents
// (999,999,999.99). Larger values are rejected rather than risk overflow in
// clients that hold prices in float64 or 64-bit minor units.
const MaxPrice Price = 999_999_999_99

// Price is an exact amount of money with two decimal places, held as a count
// of hundredths (cents). It never passes through float64.
type Price int64

// PriceFromCents returns the price of c hundredths.
func PriceFromCents(c int64) Price { return Price(c) }

// Cents returns p as a count of hundredths.
func (p Price) Cents() int64 { return int64(p) }

// ParsePrice parses a decimal number written as a JSON number (12, 12.3,
// 12.30, 1.5e2) exactly. It rejects values with more than two significant
// decimal places (trailing zeros do not count), negative values and values
// above MaxPrice. Zero parses; whether zero is allowed is the caller's rule.
func ParsePrice(s string) (Price, error) {
	bad := func(reason string) (Price, error) {
		return 0, &ValidationError{Field: "limit_price", Reason: reason}
	}
	// Grammar of a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
	i, n := 0, len(s)
	neg := i < n && s[i] == '-'
	if neg {
		i++
	}
	intStart := i
	for i < n && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return bad("must be a decimal number like 123.45")
	}
	var frac string
	if i < n && s[i] == '.' {
		i++
		start := i
		for i < n && isDigit(s[i]) {
			i++
		}
		frac = s[start:i]
		if frac == "" {
			return bad("must be a decimal number like 123.45")
		}
	}
	exp := 0
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		start := i
		if i < n && (s[i] == '+' || s[i] == '-') {
			i++
		}
		digits := i
		for i < n && isDigit(s[i]) {
			i++
		}
		if digits == i {
			return bad("must be a decimal number like 123.45")
		}
		e, err := strconv.Atoi(s[start:i])
		if err != nil || e > 100 || e < -100 {
			return bad("must be between 0.01 and 999999999.99")
		}
		exp = e
	}
	if i != n {
		return bad("must be a decimal number like 123.45")
	}
	if neg {
		return bad("must be greater than 0")
	}

	// The value is digits × 10^(exp-len(frac)); drop leading and trailing
	// zeros so that only significant digits remain.
	digits := intPart + frac
	exp -= len(frac)
	for len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	if digits == "0" {
		return 0, nil
	}
	// In cents the value is digits × 10^(exp+2).
	exp += 2
	if exp < 0 {
		return bad("must have at most 2 decimal places")
	}
	if len(digits)+exp > 11 { // MaxPrice has 11 digits in cents
		return bad("must be at most 999999999.99")
	}
	var c int64
	for j := 0; j < len(digits); j++ {
		c = c*10 + int64(digits[j]-'0')
	}
	for ; exp > 0; exp-- {
		c *= 10
	}
	if Price(c) > MaxPrice {
		return bad("must be at most 999999999.99")
	}
	return Price(c), nil
}

// String formats p with exactly two decimal places, for example "12.30".
func (p Price) String() string {
	return string(p.AppendText(nil))
}

// AppendText appends the String form of p to b.
func (p Price) AppendText(b []byte) []byte {
	// Unsigned, so that negating math.MinInt64 cannot overflow.
	c := uint64(p) //nolint:gosec // G115: the two's-complement bits on purpose; negated below
	if p < 0 {
		b = append(b, '-')
		c = -c
	}
	b = strconv.AppendUint(b, c/100, 10)
	b = append(b, '.', byte('0'+c%100/10), byte('0'+c%10))
	return b
}
