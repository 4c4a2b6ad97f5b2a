package httpapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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

// FuzzBearerHeader holds the Authorization parser to its promises: it
// never panics; a header it accepts is "Bearer" in some case, one space
// and a key of visible characters without spaces, which it returns as
// is; a refusal is an *authError with a detail; and "Bearer " followed by a
// well-formed key always gives that key back.
func FuzzBearerHeader(f *testing.F) {
	for _, seed := range []string{
		"Bearer og_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg",
		"bearer abc", "BEARER abc==", "Bearer", "Bearer ", "Bearer  abc", "Bearer abc ",
		"Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer a\x00b", "Bearer \u00e9", "Bearer a=b", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		key, err := bearerKey(header)
		if err == nil {
			scheme, rest, found := strings.Cut(header, " ")
			if !found || !strings.EqualFold(scheme, "bearer") || rest != key {
				t.Fatalf("bearerKey(%q) accepted %q: not Bearer, one space and the key as is", header, key)
			}
			if key == "" || len(header) > MaxAuthorizationBytes {
				t.Fatalf("bearerKey(%q) accepted %q", header, key)
			}
			for i := 0; i < len(key); i++ {
				if key[i] <= ' ' || key[i] > '~' {
					t.Fatalf("bearerKey(%q) accepted a key with byte %#x", header, key[i])
				}
			}
		} else {
			var ae *authError
			if !errors.As(err, &ae) || !errors.Is(err, domain.ErrUnauthenticated) || ae.detail == "" {
				t.Fatalf("bearerKey(%q) error %v; want an *authError with a detail, matching ErrUnauthenticated", header, err)
			}
		}
		// Round trip: the input as a key, if it is one, and the key made of
		// the input's token characters.
		made := strings.Map(func(r rune) rune {
			if r < 0x80 && tokenChar(byte(r)) {
				return r
			}
			return -1
		}, header)
		for _, k := range []string{header, made} {
			if !b64token(k) || len("Bearer ")+len(k) > MaxAuthorizationBytes {
				continue
			}
			for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
				if got, err := bearerKey(scheme + " " + k); err != nil || got != k {
					t.Fatalf("bearerKey(%q) = %q, %v; want the key back", scheme+" "+k, got, err)
				}
			}
		}
	})
}

func TestLimitersForgetTheLeastRecentlyUsedKeys(t *testing.T) {
	l := newLimiters(1, 1)
	now := time.Now()
	if err := l.allow("first", now); err != nil {
		t.Fatalf("first request: %v", err)
	}
	var rl *rateLimited
	if err := l.allow("first", now); !errors.As(err, &rl) || rl.retrySeconds() != 1 {
		t.Fatalf("second request at once: %v; want limited, retry after 1 s", err)
	}
	for i := range rateLimitKeys {
		if err := l.allow(domain.KeyID(fmt.Sprint("key-", i)), now); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	if n := l.cache.Len(); n != rateLimitKeys {
		t.Errorf("limiters held = %d; want at most %d", n, rateLimitKeys)
	}
	// Forgotten, the first key starts again with a full bucket.
	if err := l.allow("first", now); err != nil {
		t.Errorf("first key after it was forgotten: %v; want allowed", err)
	}
}

func TestRetrySeconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{
		{time.Nanosecond, 1}, {999 * time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {4 * time.Second, 4}, {0, 1},
	} {
		if got := (&rateLimited{retryAfter: tt.d}).retrySeconds(); got != tt.want {
			t.Errorf("retrySeconds(%v) = %d; want %d", tt.d, got, tt.want)
		}
	}
}

func TestNoRateLimit(t *testing.T) {
	for _, perSecond := range []float64{0, -1} {
		if l := newLimiters(perSecond, 10); l != nil {
			t.Errorf("newLimiters(%v, 10) = %v; want nil, no limit", perSecond, l)
		}
	}
}
