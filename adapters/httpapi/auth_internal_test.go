package httpapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/ordergate/ordergate/domain"
)

func TestBearerKey(t *testing.T) {
	const key = "og_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"
	tests := []struct {
		header      string
		wantKey     string // "" for a refusal
		wantKeySent bool
	}{
		{"Bearer " + key, key, false},
		{"bearer " + key, key, false},
		{"BEARER " + key, key, false},
		{"Bearer abc.DEF-ghi_~+/==", "abc.DEF-ghi_~+/==", false},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic " + key, "", false},
		{"Bearerx " + key, "", false},
		{"Token " + key, "", false},
		{" Bearer " + key, "", false},
		{"Bearer\t" + key, "", false},
		{"Bearer  " + key, "", true},
		{"Bearer " + key + " ", "", true},
		{"Bearer " + key + "\n", "", true},
		{"Bearer " + key + " x", "", true},
		{"Bearer =abc", "", true},
		{"Bearer abc=d", "", true},
		{"Bearer ké", "", true},
		{"Bearer " + strings.Repeat("a", MaxAuthorizationBytes), "", true},
		{"Basic " + strings.Repeat("a", MaxAuthorizationBytes), "", false},
	}
	for _, tt := range tests {
		got, err := bearerKey(tt.header)
		if got != tt.wantKey {
			t.Errorf("bearerKey(%.40q) = %q; want %q", tt.header, got, tt.wantKey)
		}
		if tt.wantKey != "" {
			if err != nil {
				t.Errorf("bearerKey(%.40q) error %v; want none", tt.header, err)
			}
			continue
		}
		var ae *authError
		if !errors.As(err, &ae) || !errors.Is(err, domain.ErrUnauthenticated) {
			t.Errorf("bearerKey(%.40q) error %v; want an *authError matching ErrUnauthenticated", tt.header, err)
			continue
		}
		if ae.keySent != tt.wantKeySent {
			t.Errorf("bearerKey(%.40q): keySent = %v; want %v", tt.header, ae.keySent, tt.wantKeySent)
		}
		if strings.Contains(ae.detail, "og_") || strings.Contains(ae.detail, "aaaa") || strings.Contains(ae.detail, "abc") {
			t.Errorf("bearerKey(%.40q): detail %q repeats the key", tt.header, ae.detail)
		}
	}
}
