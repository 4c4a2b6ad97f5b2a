package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// IdempotencyKey is a client's name for one order request: repeating the
// request with the same key returns the first result instead of placing a
// second order. Values made by ParseIdempotencyKey are valid.
type IdempotencyKey string

// MaxIdempotencyKeyLen is the longest key accepted.
const MaxIdempotencyKeyLen = 255

// ParseIdempotencyKey checks s is 1 to 255 visible ASCII characters.
func ParseIdempotencyKey(s string) (IdempotencyKey, error) {
	bad := func(reason string) (IdempotencyKey, error) {
		return "", &ValidationError{Field: "Idempotency-Key", Reason: reason}
	}
	if len(s) == 0 || len(s) > MaxIdempotencyKeyLen {
		return bad("must be 1 to 255 characters long")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return bad("must contain only visible ASCII characters (no spaces)")
		}
	}
	return IdempotencyKey(s), nil
}

// Fingerprint identifies what an order asks for, independent of its ID,
// time and how the client spelled the JSON (12.3 and 12.30 are the same
// price), so that a repeated request can be told from a different one.
func (o Order) Fingerprint() string {
	b := make([]byte, 0, 64)
	b = append(b, o.Type...)
	b = append(b, '|')
	b = append(b, o.Side...)
	b = append(b, '|')
	b = append(b, o.Instrument...)
	b = append(b, '|')
	if o.LimitPrice != nil {
		b = strconv.AppendInt(b, o.LimitPrice.Cents(), 10)
	}
	b = append(b, '|')
	b = strconv.AppendInt(b, o.Quantity, 10)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
