package webhook_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/webhook"
	"github.com/ordergate/ordergate/domain"
)

func TestGuard(t *testing.T) {
	tests := []struct {
		name         string
		url          string
		allowPrivate bool
		wantReason   string // "" means allowed
	}{
		{"loopback v4", "http://127.0.0.1:8080/hook", false, "not a public address"},
		{"loopback v6", "http://[::1]:8080/hook", false, "not a public address"},
		{"private", "https://10.1.2.3/hook", false, "not a public address"},
		{"link-local metadata", "http://169.254.169.254/latest/meta-data", false, "not a public address"},
		{"IPv4-mapped loopback", "http://[::ffff:127.0.0.1]/hook", false, "not a public address"},
		{"localhost", "http://localhost:9000/hook", false, "not a public address"},
		{"does not resolve", "https://no-such-host.invalid/hook", false, "does not resolve"},
		{"does not resolve, private allowed", "https://no-such-host.invalid/hook", true, "does not resolve"},
		{"not http", "ftp://example.com/hook", false, "http or https"},
		{"public literal", "https://93.184.215.14/hook", false, ""},
		{"loopback v4 allowed", "http://127.0.0.1:8080/hook", true, ""},
		{"loopback v6 allowed", "http://[::1]:8080/hook", true, ""},
		{"private allowed", "http://10.1.2.3/hook", true, ""},
		{"link-local allowed", "http://169.254.1.1/hook", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := webhook.NewGuard(tt.allowPrivate, nil).CheckWebhookURL(ctx, tt.url)
			if tt.wantReason == "" {
				if err != nil {
					t.Errorf("CheckWebhookURL(%s) = %v; want allowed", tt.url, err)
				}
				return
			}
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Field != "url" || !strings.Contains(ve.Reason, tt.wantReason) {
				t.Errorf("CheckWebhookURL(%s) = %v; want a ValidationError of url mentioning %q", tt.url, err, tt.wantReason)
			}
		})
	}
}

// TestGuardAllowsLocalhostWithTheFlag checks a name (not a literal) that
// resolves to loopback is accepted when private addresses are allowed.
func TestGuardAllowsLocalhostWithTheFlag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := webhook.NewGuard(true, nil).CheckWebhookURL(ctx, "http://localhost:9000/hook"); err != nil {
		t.Errorf("CheckWebhookURL(localhost) with private allowed = %v; want nil", err)
	}
}
