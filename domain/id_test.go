package domain_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ordergate/ordergate/domain"
)

var idTime = time.Date(2026, 11, 24, 10, 15, 30, 0, time.UTC)

func TestNewIDIsUUIDv7(t *testing.T) {
	for i := range 200 {
		at := idTime.Add(time.Duration(i) * 7919 * time.Microsecond)
		id := domain.NewID(at)
		if got := id[6] >> 4; got != 7 {
			t.Fatalf("NewID(%v) = %s: version nibble %d; want 7", at, id, got)
		}
		if got := id[8] >> 6; got != 0b10 {
			t.Fatalf("NewID(%v) = %s: variant bits %02b; want 10 (RFC 9562)", at, id, got)
		}
		if got, want := binary.BigEndian.Uint64(id[0:8])>>16, uint64(at.UnixMilli()); got != want {
			t.Fatalf("NewID(%v) = %s: timestamp %d ms; want %d", at, id, got, want)
		}
		if got, want := domain.IDTime(id), at.Truncate(time.Millisecond); !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("IDTime(%s) = %v; want %v in UTC", id, got, want)
		}
	}
}

func TestNewIDIsRandomBeyondTheTime(t *testing.T) {
	// Two orders created at the same instant must still get distinct IDs.
	seen := map[domain.ID]bool{}
	for range 1000 {
		id := domain.NewID(idTime)
		if seen[id] {
			t.Fatalf("NewID returned %s twice for one instant", id)
		}
		seen[id] = true
	}
}

func TestIDsSortByCreationTime(t *testing.T) {
	tests := []struct {
		name string
		step time.Duration
		n    int
	}{
		{"across seconds", 1337 * time.Millisecond, 100},
		{"across milliseconds", 37 * time.Microsecond, 200},
		// 245 ns is just over the 1/4096 ms resolution of the sub-millisecond
		// bits, so these 4000 IDs all fall in one millisecond and must still
		// sort in creation order.
		{"within one millisecond", 245 * time.Nanosecond, 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := make([]string, tt.n)
			for i := range ids {
				ids[i] = domain.NewID(idTime.Add(time.Duration(i) * tt.step)).String()
			}
			for i := 1; i < len(ids); i++ {
				if ids[i-1] >= ids[i] {
					t.Fatalf("ID %d %s does not sort after ID %d %s", i, ids[i], i-1, ids[i-1])
				}
			}
		})
	}
}

func TestIDRoundTrip(t *testing.T) {
	id := domain.NewID(idTime)
	s := id.String()
	if len(s) != 36 || strings.ToLower(s) != s {
		t.Fatalf("String() = %q; want the 36-character lower-case form", s)
	}
	for _, in := range []string{s, strings.ToUpper(s)} {
		got, err := domain.ParseID(in)
		if err != nil || got != id {
			t.Errorf("ParseID(%q) = %s, %v; want %s", in, got, err, id)
		}
	}

	text, err := id.MarshalText()
	if err != nil || string(text) != s {
		t.Errorf("MarshalText() = %q, %v; want %q", text, err, s)
	}
	var back domain.ID
	if err := back.UnmarshalText(text); err != nil || back != id {
		t.Errorf("UnmarshalText(%q) = %s, %v; want %s", text, back, err, id)
	}
	if err := back.UnmarshalText([]byte("nope")); err == nil || back != id {
		t.Errorf("UnmarshalText(nope) = %v and left %s; want an error and the ID unchanged", err, back)
	}
}

func TestParseIDKnownValue(t *testing.T) {
	got, err := domain.ParseID("0193A5C2-7d1e-7c3a-9b2f-1f6f0e2a8c11")
	want := domain.ID{0x01, 0x93, 0xa5, 0xc2, 0x7d, 0x1e, 0x7c, 0x3a, 0x9b, 0x2f, 0x1f, 0x6f, 0x0e, 0x2a, 0x8c, 0x11}
	if err != nil || got != want {
		t.Errorf("ParseID = %v, %v; want %v", got, err, want)
	}
}

func TestParseIDRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"one hex digit short", "0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c1"},
		{"one hex digit long", "0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c111"},
		{"no hyphens", "0193a5c27d1e7c3a9b2f1f6f0e2a8c11"},
		{"hyphen misplaced", "0193a5c-27d1e-7c3a-9b2f-1f6f0e2a8c11"},
		{"hyphen replaced", "0193a5c2x7d1e-7c3a-9b2f-1f6f0e2a8c11"},
		{"underscores", "0193a5c2_7d1e_7c3a_9b2f_1f6f0e2a8c11"},
		{"non-hex letter", "0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c1g"},
		{"space", "0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c1 "},
		{"braces", "{0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11}"},
		{"urn prefix", "urn:uuid:0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"},
		{"non-ASCII", "0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8cé"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.ParseID(tt.in)
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Field != "id" || !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("ParseID(%q) error %v; want a *ValidationError on id matching ErrInvalid", tt.in, err)
			}
			if !got.IsZero() {
				t.Errorf("ParseID(%q) returned %s with its error; want the zero ID", tt.in, got)
			}
		})
	}
}

func TestIDIsZero(t *testing.T) {
	if !(domain.ID{}).IsZero() {
		t.Error("ID{}.IsZero() = false; want true")
	}
	if domain.NewID(idTime).IsZero() {
		t.Error("NewID(...).IsZero() = true; want false")
	}
	nilUUID, err := domain.ParseID("00000000-0000-0000-0000-000000000000")
	if err != nil || !nilUUID.IsZero() {
		t.Errorf("ParseID(nil UUID) = %s, %v; want the zero ID", nilUUID, err)
	}
}

func TestIDsSortLikeTheirBytes(t *testing.T) {
	// Stores order by the 16 bytes, clients by the string: both must agree.
	ids := make([]domain.ID, 300)
	for i := range ids {
		ids[i] = domain.NewID(idTime.Add(time.Duration(i%17) * time.Hour))
	}
	byBytes := slices.Clone(ids)
	slices.SortFunc(byBytes, func(a, b domain.ID) int { return slices.Compare(a[:], b[:]) })
	byString := slices.Clone(ids)
	slices.SortFunc(byString, func(a, b domain.ID) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(byBytes, byString) {
		t.Error("sorting IDs by bytes and by String() disagree")
	}
}
