package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/ordergate/ordergate/domain"
)

// apiKeyRow is one API key: its hash, never the key.
type apiKeyRow struct {
	bun.BaseModel `bun:"table:api_keys"`

	ID         string       `bun:"id,pk"`
	Account    string       `bun:"account"`
	Hash       string       `bun:"hash"`
	CreatedAt  time.Time    `bun:"created_at"`
	LastUsedAt sql.NullTime `bun:"last_used_at"`
	RevokedAt  sql.NullTime `bun:"revoked_at"`
}

func toKeyRow(k domain.APIKey) *apiKeyRow {
	r := &apiKeyRow{ID: string(k.ID), Account: string(k.Account), Hash: k.Hash.String(), CreatedAt: k.CreatedAt.UTC()}
	if !k.LastUsedAt.IsZero() {
		r.LastUsedAt = sql.NullTime{Time: k.LastUsedAt.UTC(), Valid: true}
	}
	if !k.RevokedAt.IsZero() {
		r.RevokedAt = sql.NullTime{Time: k.RevokedAt.UTC(), Valid: true}
	}
	return r
}

func (r *apiKeyRow) toDomain() (domain.APIKey, error) {
	k := domain.APIKey{ID: domain.KeyID(r.ID), Account: domain.Account(r.Account), CreatedAt: r.CreatedAt.UTC()}
	b, err := hex.DecodeString(r.Hash)
	if err != nil || len(b) != len(k.Hash) {
		return domain.APIKey{}, fmt.Errorf("store: corrupt hash of key %s", r.ID)
	}
	copy(k.Hash[:], b)
	if r.LastUsedAt.Valid {
		k.LastUsedAt = r.LastUsedAt.Time.UTC()
	}
	if r.RevokedAt.Valid {
		k.RevokedAt = r.RevokedAt.Time.UTC()
	}
	return k, nil
}

// CreateKey stores k: its hash, never the key.
func (d *DB) CreateKey(ctx context.Context, k domain.APIKey) error {
	err := d.writeTx(ctx, intake, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewInsert().Model(toKeyRow(k)).Exec(ctx)
		return err
	})
	switch {
	case err != nil && isUniqueViolation(err):
		return fmt.Errorf("store: key %s: %w", k.ID, domain.ErrConflict)
	case err != nil:
		return fmt.Errorf("store: create key %s: %w", k.ID, err)
	}
	return nil
}

// firstKeyLock serializes first starts on PostgreSQL ("og-keys1" in ASCII).
const firstKeyLock = 0x6f672d6b65797331

// CreateFirstKey stores k if no key was ever stored (keys are never
// deleted), and reports whether it did. On PostgreSQL an advisory lock held
// for the transaction makes instances starting at once take turns; SQLite's
// writers take turns anyway.
func (d *DB) CreateFirstKey(ctx context.Context, k domain.APIKey) (bool, error) {
	created := false
	err := d.writeTx(ctx, intake, func(ctx context.Context, tx bun.Tx) error {
		if d.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(firstKeyLock)); err != nil {
				return err
			}
		}
		n, err := tx.NewSelect().Model((*apiKeyRow)(nil)).Count(ctx)
		if err != nil || n > 0 {
			return err
		}
		if _, err := tx.NewInsert().Model(toKeyRow(k)).Exec(ctx); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: create the first key: %w", err)
	}
	return created, nil
}

// Keys returns every key, revoked ones included, oldest first.
func (d *DB) Keys(ctx context.Context) ([]domain.APIKey, error) {
	var rows []apiKeyRow
	if err := d.db.NewSelect().Model(&rows).OrderExpr("created_at, id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	keys := make([]domain.APIKey, 0, len(rows))
	for i := range rows {
		k, err := rows[i].toDomain()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// RevokeKey revokes the key with the given ID at at; revoking a revoked key
// keeps its first revocation time.
func (d *DB) RevokeKey(ctx context.Context, id domain.KeyID, at time.Time) error {
	var n int64
	err := d.writeTx(ctx, intake, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*apiKeyRow)(nil)).
			Set("revoked_at = COALESCE(revoked_at, ?)", at.UTC()).
			Where("id = ?", string(id)).Exec(ctx)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("store: revoke key %s: %w", id, err)
	case n == 0:
		return fmt.Errorf("store: key %s: %w", id, domain.ErrNotFound)
	}
	return nil
}

// KeyByHash returns the key whose hash is h, or an error wrapping
// domain.ErrNotFound.
func (d *DB) KeyByHash(ctx context.Context, h domain.KeyHash) (domain.APIKey, error) {
	var row apiKeyRow
	// On SQLite through the writer's own connection: the benchmark's
	// section 9 measured POST 14 % slower when these lookups, one per key a
	// second, ran on another connection, and 1 % when they ran on the
	// writer's (the writer then allocated page-cache memory anew on every
	// insert). A lookup waits for at most one write transaction, and the
	// Authenticator makes it ahead of need, off the requests' path.
	err := d.w.NewSelect().Model(&row).Where("hash = ?", h.String()).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return domain.APIKey{}, fmt.Errorf("store: key: %w", domain.ErrNotFound)
	case err != nil:
		return domain.APIKey{}, fmt.Errorf("store: look a key up: %w", err)
	}
	return row.toDomain()
}

// TouchKeys records when keys were last used, moving last_used_at forward
// only.
func (d *DB) TouchKeys(ctx context.Context, used map[domain.KeyID]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	err := d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error {
		for id, at := range used {
			if _, err := tx.NewUpdate().Model((*apiKeyRow)(nil)).
				Set("last_used_at = ?", at.UTC()).
				Where("id = ?", string(id)).
				Where("last_used_at IS NULL OR last_used_at < ?", at.UTC()).
				Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record when %d keys were last used: %w", len(used), err)
	}
	return nil
}
