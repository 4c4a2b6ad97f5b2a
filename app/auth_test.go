package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports/mocks"
)

// keyStore is an in-memory ports.KeyLookup counting its lookups.
func keyStore(keys ...domain.APIKey) *mocks.KeyLookupMock {
	return &mocks.KeyLookupMock{
		KeyByHashFunc: func(_ context.Context, h domain.KeyHash) (domain.APIKey, error) {
			for _, k := range keys {
				if k.Hash == h {
					return k, nil
				}
			}
			return domain.APIKey{}, domain.ErrNotFound
		},
		TouchKeysFunc: func(context.Context, map[domain.KeyID]time.Time) error { return nil },
	}
}

func TestAuthenticate(t *testing.T) {
	clk := newClock()
	valid, vk := domain.NewAPIKey("acme", t0)
	revoked, rk := domain.NewAPIKey("acme", t0)
	rk.RevokedAt = t0
	store := keyStore(vk, rk)
	auth, err := app.NewAuthenticator(store, clk.mock(), app.AuthConfig{CacheTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, key string
		want      domain.KeyID
	}{
		{"valid", valid, vk.ID},
		{"revoked", revoked, ""},
		{"unknown", "og_" + valid[3:len(valid)-1] + "A", ""},
		{"malformed", "not-a-key", ""},
		{"empty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.Authenticate(context.Background(), tt.key)
			if tt.want != "" {
				if err != nil || got.ID != tt.want || got.Account != "acme" {
					t.Errorf("Authenticate = %+v, %v; want key %s", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, domain.ErrUnauthenticated) {
				t.Errorf("Authenticate = %+v, %v; want ErrUnauthenticated", got, err)
			}
		})
	}
	if calls := len(store.KeyByHashCalls()); calls != 3 {
		t.Errorf("%d lookups; want 3: a malformed key is refused without one", calls)
	}
}

func TestAuthenticateTrustsAValidKeyForTheCacheTTLOnly(t *testing.T) {
	clk := newClock()
	key, k := domain.NewAPIKey("acme", t0)
	revokedNow := false
	store := keyStore()
	store.KeyByHashFunc = func(context.Context, domain.KeyHash) (domain.APIKey, error) {
		if revokedNow {
			r := k
			r.RevokedAt = clk.Now()
			return r, nil
		}
		return k, nil
	}
	auth, err := app.NewAuthenticator(store, clk.mock(), app.AuthConfig{CacheTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := auth.Authenticate(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
	if calls := len(store.KeyByHashCalls()); calls != 1 {
		t.Errorf("%d lookups for 100 requests within the TTL; want 1", calls)
	}
	revokedNow = true
	clk.Advance(999 * time.Millisecond)
	if _, err := auth.Authenticate(context.Background(), key); err != nil {
		t.Errorf("within the TTL after a revocation: %v; want the cached key still trusted", err)
	}
	clk.Advance(time.Millisecond)
	if _, err := auth.Authenticate(context.Background(), key); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Errorf("a TTL after a revocation: %v; want ErrUnauthenticated: a revoked key stops within the TTL", err)
	}
}

func TestAuthenticatorWritesLastUsedTimesInBatches(t *testing.T) {
	clk := newClock()
	a, ka := domain.NewAPIKey("acme", t0)
	b, kb := domain.NewAPIKey("other", t0)
	store := keyStore(ka, kb)
	auth, err := app.NewAuthenticator(store, clk.mock(), app.AuthConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		clk.Advance(time.Second)
		key := a
		if i%2 == 1 {
			key = b
		}
		if _, err := auth.Authenticate(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(store.TouchKeysCalls()); n != 0 {
		t.Fatalf("%d writes of last-used times while serving; want none on the request's path", n)
	}
	auth.Touch(context.Background())
	calls := store.TouchKeysCalls()
	if len(calls) != 1 || len(calls[0].Used) != 2 || !calls[0].Used[kb.ID].Equal(t0.Add(10*time.Second)) || !calls[0].Used[ka.ID].Equal(t0.Add(9*time.Second)) {
		t.Errorf("TouchKeys calls = %+v; want one with each key's last use", calls)
	}
	auth.Touch(context.Background())
	if n := len(store.TouchKeysCalls()); n != 1 {
		t.Errorf("%d writes after a second Touch with nothing new; want still 1", n)
	}
}
