package domain

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// ID identifies an order. It is a UUIDv7 (RFC 9562): its first 48 bits are
// the creation time in Unix milliseconds and the next 12 bits the fraction of
// that millisecond, so IDs sort in creation order to about 250 ns.
type ID [16]byte

// NewID returns a new UUIDv7 for an order created at t.
func NewID(t time.Time) ID {
	var id ID
	_, _ = rand.Read(id[6:]) // crypto/rand.Read never fails (Go 1.24+).
	ms := uint64(t.UnixMilli())
	frac := uint64(t.Nanosecond()%int(time.Millisecond)) * 4096 / uint64(time.Millisecond) //nolint:gosec // G115: Nanosecond is never negative
	binary.BigEndian.PutUint64(id[0:8], ms<<16|0x7000|frac)
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id
}

// ParseID parses the canonical 36-character form of a UUID
// ("0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"), in either case.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, &ValidationError{Field: "id", Reason: "must be a UUID like 0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"}
	}
	src := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(id[:], []byte(src)); err != nil {
		return ID{}, &ValidationError{Field: "id", Reason: "must be a UUID like 0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"}
	}
	return id, nil
}

// IsZero reports whether id is the zero (nil) UUID.
func (id ID) IsZero() bool { return id == ID{} }

// String returns the canonical lower-case form.
func (id ID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// IDTime returns the creation time encoded in a UUIDv7, to the millisecond.
func IDTime(id ID) time.Time {
	ms := int64(binary.BigEndian.Uint64(id[0:8]) >> 16)
	return time.UnixMilli(ms).UTC()
}
