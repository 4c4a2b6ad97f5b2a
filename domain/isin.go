package domain

// ISIN is an International Securities Identification Number (ISO 6166), for
// example US0378331005. Values made by ParseISIN are always valid.
type ISIN string

// ParseISIN checks s is an ISIN: 12 characters, a two-letter upper-case
// prefix, nine upper-case letters or digits, and a check digit that matches
// the Luhn sum of the rest (letters count as 10 to 35).
func ParseISIN(s string) (ISIN, error) {
	const field = "instrument"
	if len(s) != 12 {
		return "", &ValidationError{Field: field, Reason: "must be an ISIN of exactly 12 characters, like US0378331005"}
	}
	for i := 0; i < 12; i++ {
		c := s[i]
		switch {
		case i < 2 && !isUpper(c):
			return "", &ValidationError{Field: field, Reason: "must start with a two-letter upper-case country code"}
		case i >= 2 && i < 11 && !isUpper(c) && !isDigit(c):
			return "", &ValidationError{Field: field, Reason: "characters 3 to 11 must be upper-case letters or digits"}
		case i == 11 && !isDigit(c):
			return "", &ValidationError{Field: field, Reason: "must end with a check digit"}
		}
	}
	if want := isinCheckDigit(s[:11]); s[11] != want {
		return "", &ValidationError{Field: field, Reason: "check digit is wrong: an ISIN starting " + s[:11] + " ends with " + string(want)}
	}
	return ISIN(s), nil
}

// isinCheckDigit returns the ISO 6166 check digit of the first 11 characters.
func isinCheckDigit(s string) byte {
	// Expand letters to two digits each, then apply Luhn from the right,
	// doubling the rightmost digit (the check digit itself is not there yet).
	var digits [22]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isDigit(c) {
			digits[n] = c - '0'
			n++
			continue
		}
		v := c - 'A' + 10
		digits[n], digits[n+1] = v/10, v%10
		n += 2
	}
	sum := 0
	for i := n - 1; i >= 0; i-- {
		d := int(digits[i])
		if (n-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
