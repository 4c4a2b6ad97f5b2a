package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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
	// unknown differs from valid in its last character, whatever that is.
	last := "A"
	if strings.HasSuffix(valid, last) {
		last = "B"
	}
	for _, tt := range []struct {
		name, key string
		want      domain.KeyID
	}{
		{"valid", valid, vk.ID},
		{"revoked", revoked, ""},
		{"unknown", valid[:len(valid)-1] + last, ""},
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

// BenchmarkAuthenticate is the cost authentication adds to every request
// once the key is trusted: a SHA-256, a cache hit and the last-used note,
// from as many goroutines as there are CPUs. The benchmark program's
// section 9 sets it against POST /orders.
func BenchmarkAuthenticate(b *testing.B) {
	key, k := domain.NewAPIKey("acme", time.Now())
	auth, err := app.NewAuthenticator(keyStore(k), app.SystemClock{}, app.AuthConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := auth.Authenticate(ctx, key); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// gatedKeyStore is a KeyLookup of one key whose lookups wait for open to
// be closed, counting them.
func gatedKeyStore(k domain.APIKey) (store *mocks.KeyLookupMock, open chan struct{}) {
	open = make(chan struct{})
	store = keyStore()
	store.KeyByHashFunc = func(ctx context.Context, _ domain.KeyHash) (domain.APIKey, error) {
		select {
		case <-open:
			return k, nil
		case <-ctx.Done():
			return domain.APIKey{}, ctx.Err()
		}
	}
	return store, open
}

func TestAuthenticateLooksAKeyUpOnceForManyRequests(t *testing.T) {
	clk := newClock()
	key, k := domain.NewAPIKey("acme", t0)
	store, open := gatedKeyStore(k)
	auth, err := app.NewAuthenticator(store, clk.mock(), app.AuthConfig{CacheTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			got, err := auth.Authenticate(context.Background(), key)
			if err == nil && got.ID != k.ID {
				err = fmt.Errorf("got key %s", got.ID)
			}
			errs <- err
		})
	}
	// While the store is slow, the requests wait for the one lookup in
	// flight instead of each sending its own.
	waitFor(t, "the first lookup", func() bool { return len(store.KeyByHashCalls()) >= 1 })
	close(open)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A request that found the cache empty just before the lookup filled
	// it may look up once more; without sharing, all 50 would have.
	if calls := len(store.KeyByHashCalls()); calls > 2 {
		t.Errorf("%d lookups for %d concurrent requests of one key; want 1 (2 at most)", calls, n)
	}
}

func TestAuthenticateLooksAKeyInUseUpAgainBeforeItsTTLRunsOut(t *testing.T) {
	clk := newClock()
	key, k := domain.NewAPIKey("acme", t0)
	const (
		answer = iota // the store answers at once
		slow          // the store answers once open is closed
		down          // the store fails
	)
	var mode atomic.Int32
	open := make(chan struct{})
	store := keyStore()
	store.KeyByHashFunc = func(ctx context.Context, _ domain.KeyHash) (domain.APIKey, error) {
		switch mode.Load() {
		case slow:
			select {
			case <-open:
				return k, nil
			case <-ctx.Done():
				return domain.APIKey{}, ctx.Err()
			}
		case down:
			return domain.APIKey{}, errors.New("store down")
		}
		return k, nil
	}
	auth, err := app.NewAuthenticator(store, clk.mock(), app.AuthConfig{CacheTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	authenticate := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := auth.Authenticate(ctx, key)
		return err
	}
	if err := authenticate(); err != nil {
		t.Fatal(err)
	}

	// In the last tenth of the TTL a request is answered from the cache at
	// once, though the store is slow, and the key is looked up again
	// behind it, once for all the requests.
	mode.Store(slow)
	clk.Advance(950 * time.Millisecond)
	for range 10 {
		if err := authenticate(); err != nil {
			t.Fatalf("in the last tenth of the TTL: %v; want the trusted key at once", err)
		}
	}
	waitFor(t, "the lookup ahead of the TTL", func() bool { return len(store.KeyByHashCalls()) == 2 })
	if calls := len(store.KeyByHashCalls()); calls != 2 {
		t.Fatalf("%d lookups; want 2: one ahead of the TTL for all the requests in its last tenth", calls)
	}

	// That lookup trusts the key for a TTL from when it was made: half a
	// TTL past the first one, requests are answered from the cache though
	// the store is now down.
	mode.Store(down)
	close(open)
	clk.Advance(500 * time.Millisecond)
	waitFor(t, "the key trusted anew", func() bool { return authenticate() == nil })
	calls := len(store.KeyByHashCalls())
	for range 10 {
		if err := authenticate(); err != nil {
			t.Fatalf("within the renewed TTL: %v", err)
		}
	}
	if got := len(store.KeyByHashCalls()); got != calls {
		t.Errorf("%d lookups within the renewed TTL; want none", got-calls)
	}
}
