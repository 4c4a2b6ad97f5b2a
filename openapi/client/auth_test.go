package client_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/openapi/client"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

type clock struct{}

func (clock) Now() time.Time { return time.Now() }

// server serves the real API, with one key of the account "acme", and
// records the Authorization header of every request it gets.
func server(t *testing.T) (url, key string, seen func() []string) {
	t.Helper()
	key, k := domain.NewAPIKey("acme", time.Now())
	lookup := &mocks.KeyLookupMock{
		KeyByHashFunc: func(ctx context.Context, h domain.KeyHash) (domain.APIKey, error) {
			if h != k.Hash {
				return domain.APIKey{}, domain.ErrNotFound
			}
			return k, nil
		},
		TouchKeysFunc: func(ctx context.Context, used map[domain.KeyID]time.Time) error { return nil },
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	auth, err := app.NewAuthenticator(lookup, clock{}, app.AuthConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	store := &mocks.OrdersMock{
		ListFunc: func(ctx context.Context, q ports.ListQuery) ([]domain.Order, error) { return nil, nil },
	}
	h := httpapi.Handler(app.NewService(store, nil, clock{}, nil), auth, httpapi.Health{}, quiet)
	var mu sync.Mutex
	var headers []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		headers = append(headers, r.Header.Get("Authorization"))
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, key, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), headers...)
	}
}

func TestWithAPIKeySendsTheKey(t *testing.T) {
	url, key, seen := server(t)
	c, err := client.NewClientWithResponses(url, client.WithAPIKey(key))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.ListOrdersWithResponse(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		t.Fatalf("list-orders with the key = %d %s; want 200", resp.StatusCode(), resp.Body)
	}
	if got, want := seen(), []string{"Bearer " + key}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("Authorization headers sent = %q; want %q", got, want)
	}
}

func TestWithoutAPIKeyIsUnauthorized(t *testing.T) {
	url, _, _ := server(t)
	unknown, _ := domain.NewAPIKey("acme", time.Now())
	for _, tt := range []struct {
		name      string
		opts      []client.ClientOption
		challenge string
	}{
		{"no key", nil, `Bearer realm="ordergate"`},
		{"an unknown key", []client.ClientOption{client.WithAPIKey(unknown)}, `Bearer realm="ordergate", error="invalid_token"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.NewClientWithResponses(url, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.ListOrdersWithResponse(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != http.StatusUnauthorized || resp.ApplicationproblemJSON401 == nil {
				t.Fatalf("list-orders = %d %s; want a 401 problem", resp.StatusCode(), resp.Body)
			}
			if resp.Headers401 == nil || resp.Headers401.WWWAuthenticate == nil || *resp.Headers401.WWWAuthenticate != tt.challenge {
				t.Errorf("401 headers = %+v; want WWW-Authenticate %s", resp.Headers401, tt.challenge)
			}
		})
	}
}
