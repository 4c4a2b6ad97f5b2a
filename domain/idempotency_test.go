package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ordergate/ordergate/domain"
)

func TestParseIdempotencyKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"one character", "a", true},
		{"UUID", "0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11", true},
		{"every visible character", visibleASCII(), true},
		{"255 characters", strings.Repeat("k", 255), true},
		{"empty", "", false},
		{"256 characters", strings.Repeat("k", 256), false},
		{"space", "a b", false},
		{"tab", "a\tb", false},
		{"newline", "a\n", false},
		{"DEL", "a\x7f", false},
		{"non-ASCII", "clé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.ParseIdempotencyKey(tt.in)
			if tt.ok {
				if err != nil || string(got) != tt.in {
					t.Errorf("ParseIdempotencyKey(%q) = %q, %v; want it back", tt.in, got, err)
				}
				return
			}
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Field != "Idempotency-Key" || !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("ParseIdempotencyKey(%q) error %v; want a ValidationError on Idempotency-Key", tt.in, err)
			}
		})
	}
}

func visibleASCII() string {
	var b strings.Builder
	for c := byte(0x21); c <= 0x7e; c++ {
		b.WriteByte(c)
	}
	return b.String()
}

func TestFingerprint(t *testing.T) {
	base, err := domain.New(domain.NewID(orderNow), orderNow, limitSpec())
	if err != nil {
		t.Fatal(err)
	}
	want := base.Fingerprint()
	if len(want) != 64 {
		t.Errorf("Fingerprint() = %q; want 64 hex characters", want)
	}

	same := []struct {
		name string
		edit func(*domain.Order)
	}{
		{"other ID", func(o *domain.Order) { o.ID = domain.NewID(orderNow) }},
		{"other creation time", func(o *domain.Order) { o.CreatedAt = o.CreatedAt.Add(time.Hour) }},
		{"placed", func(o *domain.Order) { o.Status, o.PlacedAt, o.PlacementAttempts = domain.Placed, orderNow, 3 }},
		{"with a last error", func(o *domain.Order) { o.LastError = "boom" }},
		{"equal price, other pointer", func(o *domain.Order) { o.LimitPrice = price(12345) }},
	}
	for _, tt := range same {
		t.Run("same when "+tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			if got := o.Fingerprint(); got != want {
				t.Errorf("Fingerprint() changed to %s", got)
			}
		})
	}

	differ := []struct {
		name string
		edit func(*domain.Order)
	}{
		{"type", func(o *domain.Order) { o.Type = domain.Market }},
		{"side", func(o *domain.Order) { o.Side = domain.Sell }},
		{"instrument", func(o *domain.Order) { o.Instrument = "DE000BASF111" }},
		{"price", func(o *domain.Order) { o.LimitPrice = price(12346) }},
		{"no price", func(o *domain.Order) { o.LimitPrice = nil }},
		{"quantity", func(o *domain.Order) { o.Quantity = 11 }},
		// A separator inside a field must not let two orders collide.
		{"price digits moved into quantity", func(o *domain.Order) { o.LimitPrice, o.Quantity = price(1234), 510 }},
	}
	for _, tt := range differ {
		t.Run("differs by "+tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			if got := o.Fingerprint(); got == want {
				t.Errorf("Fingerprint() did not change")
			}
		})
	}
}
