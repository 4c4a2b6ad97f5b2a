package domain_test

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// ExampleVerifyWebhook is a receiver checking a delivery before it trusts
// it: the three Standard Webhooks headers, the raw body and the secret
// POST /webhooks returned.
func ExampleVerifyWebhook() {
	// What ordergate sends (the receiver gets these from the request).
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"event_id":42,"type":"order.filled"}`)
	now := time.Unix(1_764_000_000, 0)
	id, ts := "42", strconv.FormatInt(now.Unix(), 10)
	sig, _ := domain.SignWebhook(secret, id, now.Unix(), body)

	// The receiver's check, in its handler:
	//   err := domain.VerifyWebhook(secret, r.Header.Get("webhook-id"),
	//       r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, time.Now())
	fmt.Println(domain.VerifyWebhook(secret, id, ts, sig, body, now))

	// A changed body, or a delivery replayed ten minutes later, does not verify.
	tampered := []byte(`{"event_id":42,"type":"order.canceled"}`)
	fmt.Println(errors.Is(domain.VerifyWebhook(secret, id, ts, sig, tampered, now), domain.ErrBadSignature))
	fmt.Println(errors.Is(domain.VerifyWebhook(secret, id, ts, sig, body, now.Add(10*time.Minute)), domain.ErrBadSignature))
	// Output:
	// <nil>
	// true
	// true
}

// TestSignWebhookMatchesTheSpecification checks the signature against the
// Standard Webhooks specification's published test vector.
func TestSignWebhookMatchesTheSpecification(t *testing.T) {
	// From https://github.com/standard-webhooks/standard-webhooks (libraries' tests).
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	id := "msg_p5jXN8AQM9LWM0D4loKWxJek"
	ts := int64(1614265330)
	body := []byte(`{"test": 2432232314}`)
	got, err := domain.SignWebhook(secret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("SignWebhook = %s; want %s", got, want)
	}
}

func TestVerifyWebhook(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	other := "whsec_" + strings.Repeat("A", 32)
	body := []byte(`{"x":1}`)
	now := time.Unix(1_764_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	good, _ := domain.SignWebhook(secret, "7", now.Unix(), body)
	wrong, _ := domain.SignWebhook(other, "7", now.Unix(), body)
	for _, tt := range []struct {
		name, id, ts, sig string
		at                time.Time
		ok                bool
	}{
		{"valid", "7", ts, good, now, true},
		{"one of several signatures", "7", ts, "v1,bm90IGl0 " + good, now, true},
		{"other secret", "7", ts, wrong, now, false},
		{"other id", "8", ts, good, now, false},
		{"other version", "7", ts, "v2," + strings.TrimPrefix(good, "v1,"), now, false},
		{"not base64", "7", ts, "v1,@@@", now, false},
		{"empty signature", "7", ts, "", now, false},
		{"bad timestamp", "7", "yesterday", good, now, false},
		{"timestamp in the tolerance", "7", ts, good, now.Add(domain.WebhookTolerance), true},
		{"too old", "7", ts, good, now.Add(domain.WebhookTolerance + time.Second), false},
		{"from the future", "7", ts, good, now.Add(-domain.WebhookTolerance - time.Second), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := domain.VerifyWebhook(secret, tt.id, tt.ts, tt.sig, body, tt.at)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, domain.ErrBadSignature)) {
				t.Errorf("VerifyWebhook = %v; want ok %v", err, tt.ok)
			}
		})
	}
	if err := domain.VerifyWebhook("not a secret!", "7", ts, good, body, now); err == nil {
		t.Error("a malformed secret verified")
	}
}

func TestNewWebhook(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.UTC)
	w, err := domain.NewWebhook("alice", "https://example.com/hooks?x=1", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(w.ID), "wh_") || w.Account != "alice" || w.URL != "https://example.com/hooks?x=1" ||
		!w.CreatedAt.Equal(now.Truncate(time.Microsecond)) || !w.DisabledAt.IsZero() {
		t.Errorf("NewWebhook = %+v", w)
	}
	if !strings.HasPrefix(w.Secret, "whsec_") {
		t.Errorf("secret %q lacks whsec_", w.Secret)
	}
	w2, _ := domain.NewWebhook("alice", "https://example.com/hooks", now)
	if w2.ID == w.ID || w2.Secret == w.Secret {
		t.Error("two endpoints share an id or a secret")
	}
	// The secret signs and verifies.
	sig, err := domain.SignWebhook(w.Secret, "1", now.Unix(), []byte("{}"))
	if err != nil || domain.VerifyWebhook(w.Secret, "1", strconv.FormatInt(now.Unix(), 10), sig, []byte("{}"), now) != nil {
		t.Errorf("a new endpoint's secret does not sign: %v", err)
	}
}

func TestParseWebhookURL(t *testing.T) {
	for _, tt := range []struct {
		url, reason string
	}{
		{"https://example.com/h", ""},
		{"http://example.com:8080/h?a=b", ""},
		{"http://[2001:db8::1]/h", ""},
		{"/relative", "absolute"},
		{"example.com/h", "absolute"},
		{"ftp://example.com/h", "http or https"},
		{"javascript:alert(1)", "http or https"},
		{"https:///nohost", "host"},
		{"https://user:pw@example.com/h", "user"},
		{"https://example.com/h#frag", "fragment"},
		{"https://example.com/" + strings.Repeat("a", domain.MaxWebhookURLLen), "2048"},
		{"http://exa mple.com/", "absolute"},
	} {
		_, err := domain.ParseWebhookURL(tt.url)
		if tt.reason == "" {
			if err != nil {
				t.Errorf("ParseWebhookURL(%q) = %v", tt.url, err)
			}
			continue
		}
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Field != "url" || !strings.Contains(ve.Reason, tt.reason) {
			t.Errorf("ParseWebhookURL(%q) = %v; want a validation error on url mentioning %q", tt.url, err, tt.reason)
		}
	}
}

func TestPublicAddress(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true, "100.128.0.1": true,
		"127.0.0.1": false, "127.8.9.10": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd12::1": false,
		"0.0.0.0": false, "::": false, "0.1.2.3": false, "100.64.0.1": false, "100.127.255.255": false,
		"224.0.0.1": false, "ff02::1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
	} {
		if got := domain.PublicAddress(net.ParseIP(addr)); got != public {
			t.Errorf("PublicAddress(%s) = %v; want %v", addr, got, public)
		}
	}
}
