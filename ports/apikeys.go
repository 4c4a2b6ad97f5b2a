package ports

import (
	"context"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// APIKeys keeps API keys, as their hashes, for the commands that manage
// them.
type APIKeys interface {
	// CreateKey stores k. It returns an error wrapping domain.ErrConflict
	// if k's ID or hash is taken.
	CreateKey(ctx context.Context, k domain.APIKey) error
	// CreateFirstKey stores k only if no key was ever stored, and reports
	// whether it did: a fresh database gets one key on its first start,
	// and never another however often it starts, also when many
	// instances start at once.
	CreateFirstKey(ctx context.Context, k domain.APIKey) (bool, error)
	// Keys returns every key, revoked ones included, oldest first.
	Keys(ctx context.Context) ([]domain.APIKey, error)
	// RevokeKey revokes the key with the given ID at at. It returns an
	// error wrapping domain.ErrNotFound for an unknown ID; revoking a
	// revoked key changes nothing.
	RevokeKey(ctx context.Context, id domain.KeyID, at time.Time) error
}

// KeyLookup finds the key a request carries, for authentication.
type KeyLookup interface {
	// KeyByHash returns the key whose hash is h, revoked or not, or an
	// error wrapping domain.ErrNotFound.
	KeyByHash(ctx context.Context, h domain.KeyHash) (domain.APIKey, error)
	// TouchKeys records when keys were last used: later times only.
	TouchKeys(ctx context.Context, used map[domain.KeyID]time.Time) error
}
