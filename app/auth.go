package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// AuthConfig tunes an Authenticator. Zero fields take the defaults.
type AuthConfig struct {
	// CacheTTL is how long a key found valid is trusted without asking the
	// store again (default 1 s). It bounds how long a revoked key goes on
	// working, on every instance.
	CacheTTL time.Duration
	// CacheSize bounds the keys trusted at once (default 10,000); the
	// least recently used are forgotten first.
	CacheSize int
	// TouchEvery is how often the keys' last-used times are written
	// (default 10 s): never on a request's own path.
	TouchEvery time.Duration
	// Logger receives failures to write last-used times (default
	// slog.Default()).
	Logger *slog.Logger
}

// Authenticator tells which API key, and so which account, a request's key
// is. It trusts a key it found valid for CacheTTL, and records when keys
// were used in memory, written to the store every TouchEvery by Run.
type Authenticator struct {
	keys  ports.KeyLookup
	clock ports.Clock
	cfg   AuthConfig
	cache *lru.Cache[domain.KeyHash, trusted]

	mu   sync.Mutex
	used map[domain.KeyID]time.Time
}

// trusted is a key found valid, until when it is trusted.
type trusted struct {
	key   domain.APIKey
	until time.Time
}

// NewAuthenticator returns an Authenticator over keys.
func NewAuthenticator(keys ports.KeyLookup, clock ports.Clock, cfg AuthConfig) (*Authenticator, error) {
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = time.Second
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10_000
	}
	if cfg.TouchEvery == 0 {
		cfg.TouchEvery = 10 * time.Second
	}
	if cfg.CacheTTL < 0 || cfg.CacheSize < 0 || cfg.TouchEvery < 0 {
		return nil, errors.New("auth: cache TTL, cache size and touch interval must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cache, err := lru.New[domain.KeyHash, trusted](cfg.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &Authenticator{keys: keys, clock: clock, cfg: cfg, cache: cache, used: map[domain.KeyID]time.Time{}}, nil
}

// Authenticate returns the valid key that key is. A malformed, unknown or
// revoked key gives an error wrapping domain.ErrUnauthenticated; any other
// error is the store's.
func (a *Authenticator) Authenticate(ctx context.Context, key string) (domain.APIKey, error) {
	if !domain.WellFormedAPIKey(key) {
		return domain.APIKey{}, fmt.Errorf("malformed key: %w", domain.ErrUnauthenticated)
	}
	h := domain.HashAPIKey(key)
	now := a.clock.Now()
	k, ok := a.trusted(h, now)
	if !ok {
		var err error
		k, err = a.keys.KeyByHash(ctx, h)
		switch {
		case errors.Is(err, domain.ErrNotFound):
			return domain.APIKey{}, fmt.Errorf("unknown key: %w", domain.ErrUnauthenticated)
		case err != nil:
			return domain.APIKey{}, fmt.Errorf("look the key up: %w", err)
		case !k.Hash.Equal(h):
			return domain.APIKey{}, fmt.Errorf("unknown key: %w", domain.ErrUnauthenticated)
		case k.Revoked():
			return domain.APIKey{}, fmt.Errorf("key %s revoked: %w", k.ID, domain.ErrUnauthenticated)
		}
		a.cache.Add(h, trusted{key: k, until: now.Add(a.cfg.CacheTTL)})
	}
	a.mu.Lock()
	a.used[k.ID] = now
	a.mu.Unlock()
	return k, nil
}

// trusted returns the cached key with hash h if it is still trusted.
func (a *Authenticator) trusted(h domain.KeyHash, now time.Time) (domain.APIKey, bool) {
	t, ok := a.cache.Get(h)
	if !ok || !now.Before(t.until) {
		return domain.APIKey{}, false
	}
	return t.key, true
}

// Run writes the keys' last-used times every TouchEvery until ctx ends,
// and once more then.
func (a *Authenticator) Run(ctx context.Context) {
	t := time.NewTicker(a.cfg.TouchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			a.Touch(flush)
			cancel()
			return
		case <-t.C:
			a.Touch(ctx)
		}
	}
}

// Touch writes the last-used times gathered since the last call.
func (a *Authenticator) Touch(ctx context.Context) {
	a.mu.Lock()
	used := a.used
	a.used = map[domain.KeyID]time.Time{}
	a.mu.Unlock()
	if len(used) == 0 {
		return
	}
	if err := a.keys.TouchKeys(ctx, used); err != nil {
		a.cfg.Logger.Warn("record when API keys were last used", "keys", len(used), "err", err)
	}
}
