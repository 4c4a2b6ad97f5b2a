package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ordergate/ordergate/domain"
)

func TestParseAccount(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"default", true}, {"acme-trading.eu_1", true}, {"7", true}, {strings.Repeat("a", 64), true},
		{"", false}, {strings.Repeat("a", 65), false}, {"Acme", false}, {"-acme", false}, {".acme", false},
		{"ac me", false}, {"acmé", false}, {"acme/x", false},
	} {
		got, err := domain.ParseAccount(tt.in)
		if tt.ok && (err != nil || string(got) != tt.in) {
			t.Errorf("ParseAccount(%q) = %q, %v; want it accepted", tt.in, got, err)
		}
		if !tt.ok && !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("ParseAccount(%q) = %q, %v; want a validation error", tt.in, got, err)
		}
	}
}

func TestNewAPIKey(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC)
	seen := map[string]bool{}
	ids := map[domain.KeyID]bool{}
	for range 1000 {
		key, k := domain.NewAPIKey("acme", now)
		if !domain.WellFormedAPIKey(key) || !strings.HasPrefix(key, "og_") || len(key) != 46 {
			t.Fatalf("key %q is not well formed", key)
		}
		if seen[key] || ids[k.ID] {
			t.Fatalf("a key or key ID came twice in 1000: %q %q", key, k.ID)
		}
		seen[key], ids[k.ID] = true, true
		if k.Account != "acme" || !k.CreatedAt.Equal(now.Truncate(time.Microsecond)) || k.Revoked() {
			t.Errorf("key record %+v; want account acme, created now, not revoked", k)
		}
		if !k.Hash.Equal(domain.HashAPIKey(key)) || strings.Contains(k.Hash.String(), key) {
			t.Errorf("the record does not hold the key's hash")
		}
	}
	key, _ := domain.NewAPIKey("acme", now)
	for _, bad := range []string{"", key[:len(key)-1], key + "A", "og_" + strings.Repeat("!", 43), "xx" + key[2:], " " + key[1:]} {
		if domain.WellFormedAPIKey(bad) {
			t.Errorf("WellFormedAPIKey(%q) = true", bad)
		}
	}
	if domain.HashAPIKey(key).Equal(domain.HashAPIKey(key + "x")) {
		t.Error("two keys share a hash")
	}
}
