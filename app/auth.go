package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

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
// is. It trusts a key it found valid for CacheTTL; a key in use is looked
// up again in the background shortly before that runs out, one lookup per
// key however many requests carry it, so requests do not wait for the
// store. It records when keys were used in memory, written to the store
// every TouchEvery by Run.
type Authenticator struct {
	keys  ports.KeyLookup
	clock ports.Clock
	cfg   AuthConfig
	cache *lru.Cache[domain.KeyHash, trusted]
	// lookups holds one lookup per key hash in flight; refreshing the
	// hashes of the keys being looked up again in the background.
	lookups    singleflight.Group
	refreshing sync.Map

	mu   sync.Mutex
	used map[domain.KeyID]time.Time
}

// trusted is a key found valid, until when it is trusted, and from when
// it is looked up again.
type trusted struct {
	key     domain.APIKey
	refresh time.Time
	until   time.Time
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
	t, ok := a.cache.Get(h)
	switch {
	case !ok || !now.Before(t.until):
		k, err := a.lookup(ctx, h)
		if err != nil {
			return domain.APIKey{}, err
		}
		t.key = k
	case !now.Before(t.refresh):
		// Still trusted, for less than a tenth of the TTL: look it up
		// again for the requests to come, without making this one wait.
		if _, busy := a.refreshing.LoadOrStore(h, struct{}{}); !busy {
			go func() {
				defer a.refreshing.Delete(h)
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				_, _ = a.lookup(ctx, h)
			}()
		}
	}
	a.mu.Lock()
	a.used[t.key.ID] = now
	a.mu.Unlock()
	return t.key, nil
}

// lookup asks the store for the key whose hash is h, once however many
// ask at the same time, and trusts it for CacheTTL from when it asked if
// it is valid. An unknown or revoked key is forgotten at once: it is
// never trusted from the cache.
func (a *Authenticator) lookup(ctx context.Context, h domain.KeyHash) (domain.APIKey, error) {
	v, err, _ := a.lookups.Do(string(h[:]), func() (any, error) {
		asked := a.clock.Now()
		k, err := a.keys.KeyByHash(ctx, h)
		switch {
		case errors.Is(err, domain.ErrNotFound):
			err = fmt.Errorf("unknown key: %w", domain.ErrUnauthenticated)
		case err != nil:
			return nil, fmt.Errorf("look the key up: %w", err)
		case !k.Hash.Equal(h):
			err = fmt.Errorf("unknown key: %w", domain.ErrUnauthenticated)
		case k.Revoked():
			err = fmt.Errorf("key %s revoked: %w", k.ID, domain.ErrUnauthenticated)
		}
		if err != nil {
			a.cache.Remove(h)
			return nil, err
		}
		ttl := a.cfg.CacheTTL
		a.cache.Add(h, trusted{key: k, refresh: asked.Add(ttl - ttl/10), until: asked.Add(ttl)})
		return k, nil
	})
	if err != nil {
		return domain.APIKey{}, err
	}
	return v.(domain.APIKey), nil
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
