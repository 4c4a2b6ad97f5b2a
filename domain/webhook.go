package domain

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WebhookID names a registered webhook endpoint.
type WebhookID string

// Webhook is an endpoint an account registered to receive its events: each
// event is POSTed to it, signed with its secret as the Standard Webhooks
// specification says (https://www.standardwebhooks.com).
type Webhook struct {
	ID      WebhookID
	Account Account
	// URL is an http or https URL.
	URL string
	// Secret signs the deliveries: "whsec_" and the base64 of 32 random
	// bytes, shown to the account once.
	Secret    string
	CreatedAt time.Time
	// DisabledAt is when deliveries to the endpoint stopped because it
	// answered 410 Gone; zero while it is enabled.
	DisabledAt time.Time
}

// MaxWebhookURLLen is the longest endpoint URL accepted.
const MaxWebhookURLLen = 2048

// webhookSecretPrefix starts a Standard Webhooks secret.
const webhookSecretPrefix = "whsec_"

// NewWebhook makes an endpoint of account for rawURL at now, with a new
// secret. The URL must be an absolute http or https URL with a host and no
// user information; an error is a *ValidationError naming "url". Whether
// the host is an address deliveries may go to is the caller's check (see
// PublicAddress).
func NewWebhook(account Account, rawURL string, now time.Time) (Webhook, error) {
	u, err := ParseWebhookURL(rawURL)
	if err != nil {
		return Webhook{}, err
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	var key [32]byte
	_, _ = rand.Read(key[:])
	return Webhook{
		ID:        WebhookID("wh_" + hex.EncodeToString(id[:])),
		Account:   account,
		URL:       u.String(),
		Secret:    webhookSecretPrefix + base64.StdEncoding.EncodeToString(key[:]),
		CreatedAt: now.UTC().Truncate(time.Microsecond),
	}, nil
}

// ParseWebhookURL checks rawURL is an endpoint URL: absolute, http or
// https, with a host, without user information or a fragment, at most
// MaxWebhookURLLen bytes.
func ParseWebhookURL(rawURL string) (*url.URL, error) {
	bad := func(reason string) error { return &ValidationError{Field: "url", Reason: reason} }
	if len(rawURL) > MaxWebhookURLLen {
		return nil, bad("must be at most 2048 bytes")
	}
	u, err := url.Parse(rawURL)
	switch {
	case err != nil || !u.IsAbs():
		return nil, bad("must be an absolute http or https URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, bad("must use http or https")
	case u.Hostname() == "":
		return nil, bad("must name a host")
	case u.User != nil:
		return nil, bad("must not carry a user name or password")
	case u.Fragment != "":
		return nil, bad("must not have a fragment")
	}
	return u, nil
}

// PublicAddress reports whether deliveries may go to ip: not loopback,
// private (RFC 1918, RFC 4193), link-local, unspecified, multicast or the
// carrier-grade NAT range, and no IPv4-mapped form of those.
func PublicAddress(ip net.IP) bool {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
		// 100.64.0.0/10, shared address space (RFC 6598).
		if v4[0] == 100 && v4[1]&0xc0 == 64 {
			return false
		}
		// 0.0.0.0/8, "this network".
		if v4[0] == 0 {
			return false
		}
	}
	refused := ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()
	return !refused
}

// SignWebhook returns the webhook-signature header of a delivery, as the
// Standard Webhooks specification says: "v1," and the base64 of the
// HMAC-SHA256, keyed with the secret's bytes, of "id.timestamp.body".
func SignWebhook(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := webhookKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(webhookMAC(key, id, timestamp, body)), nil
}

// ErrBadSignature means a webhook delivery's signature does not verify.
var ErrBadSignature = errors.New("webhook signature does not verify")

// WebhookTolerance is how far a delivery's timestamp may be from the
// receiver's clock for VerifyWebhook, against replays.
const WebhookTolerance = 5 * time.Minute

// VerifyWebhook checks a delivery a receiver got: its webhook-id,
// webhook-timestamp and webhook-signature headers and its body, against
// the endpoint's secret, at now. The signature header may hold several
// space-separated signatures (while a secret is rotated); one valid v1
// signature is enough. It returns an error wrapping ErrBadSignature for a
// delivery that does not verify or whose timestamp is more than
// WebhookTolerance away from now.
func VerifyWebhook(secret, id, timestamp, signature string, body []byte, now time.Time) error {
	key, err := webhookKey(secret)
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.Join(ErrBadSignature, errors.New("webhook-timestamp is not Unix seconds"))
	}
	if d := now.Sub(time.Unix(ts, 0)); d > WebhookTolerance || d < -WebhookTolerance {
		return errors.Join(ErrBadSignature, errors.New("webhook-timestamp too far from now"))
	}
	want := webhookMAC(key, id, ts, body)
	for _, sig := range strings.Fields(signature) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// webhookKey decodes a "whsec_" secret into its key bytes.
func webhookKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, webhookSecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook secret: not whsec_ and base64")
	}
	return key, nil
}

func webhookMAC(key []byte, id string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
