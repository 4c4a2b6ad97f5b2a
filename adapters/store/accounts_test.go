package store_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// runAccountSuite is the part of the contract suite about accounts and
// API keys.
func runAccountSuite(t *testing.T, open func(testing.TB) *store.DB) {
	t.Run("an account sees, lists and cancels only its own orders", func(t *testing.T) {
		db := open(t)
		mine := newOrder(t, t0, true)
		theirs := newOrder(t, t0.Add(time.Second), true)
		theirs.Account = "other"
		mustCreate(t, db, mine)
		mustCreate(t, db, theirs)
		if _, err := db.Order(ctx, testAccount, theirs.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("another account's order: %v; want ErrNotFound, as for an unknown one", err)
		}
		for _, q := range []ports.ListQuery{{Limit: 10}, {Limit: 10, Status: domain.Pending}, {Limit: 10, Before: domain.NewID(t0.Add(time.Hour))}} {
			q.Account = testAccount
			got, err := db.List(ctx, q)
			if err != nil || len(got) != 1 || got[0].ID != mine.ID {
				t.Errorf("List(%+v) = %d orders, %v; want only the account's own", q, len(got), err)
			}
		}
		if _, err := db.Cancel(ctx, testAccount, theirs.ID, requestCancel(t0)); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("cancel of another account's order: %v; want ErrNotFound", err)
		}
		if got, _ := db.Order(ctx, "other", theirs.ID); got.Status != domain.Pending || got.Account != "other" {
			t.Errorf("the other account's order is %s of %q; want pending, untouched", got.Status, got.Account)
		}
	})

	t.Run("idempotency keys are each account's own", func(t *testing.T) {
		db := open(t)
		a := newOrder(t, t0, false)
		b := newOrder(t, t0.Add(time.Second), false)
		b.Account = "other"
		for _, o := range []domain.Order{a, b} {
			got, replayed, err := db.CreateOnce(ctx, "same-key", o)
			if err != nil || replayed || got.ID != o.ID {
				t.Errorf("CreateOnce in %s = %s, %v, %v; want a new order: the key is the account's", o.Account, got.ID, replayed, err)
			}
		}
	})

	t.Run("API keys: stored as hashes, found by hash, listed, revoked", func(t *testing.T) {
		db := open(t)
		secret, k := domain.NewAPIKey("acme", t0)
		if err := db.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateKey(ctx, k); !errors.Is(err, domain.ErrConflict) {
			t.Errorf("the same key twice: %v; want ErrConflict", err)
		}
		got, err := db.KeyByHash(ctx, domain.HashAPIKey(secret))
		if err != nil || got.ID != k.ID || got.Account != "acme" || !got.Hash.Equal(k.Hash) || got.Revoked() {
			t.Errorf("KeyByHash = %+v, %v; want the key, valid", got, err)
		}
		if _, err := db.KeyByHash(ctx, domain.HashAPIKey(secret+"x")); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("an unknown key: %v; want ErrNotFound", err)
		}
		var stored int
		if err := db.Bun().NewRaw("SELECT count(*) FROM api_keys WHERE hash LIKE ?", "%"+secret[3:13]+"%").Scan(ctx, &stored); err != nil || stored != 0 {
			t.Errorf("the key's text is in the table (%d rows, %v)", stored, err)
		}
		if err := db.TouchKeys(ctx, map[domain.KeyID]time.Time{k.ID: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := db.TouchKeys(ctx, map[domain.KeyID]time.Time{k.ID: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeKey(ctx, k.ID, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeKey(ctx, k.ID, t0.Add(3*time.Hour)); err != nil {
			t.Errorf("revoking again: %v; want nil", err)
		}
		if err := db.RevokeKey(ctx, "key_unknown", t0); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("revoking an unknown key: %v; want ErrNotFound", err)
		}
		keys, err := db.Keys(ctx)
		if err != nil || len(keys) != 1 {
			t.Fatalf("Keys = %d, %v; want 1", len(keys), err)
		}
		if !keys[0].LastUsedAt.Equal(t0.Add(time.Hour)) || !keys[0].RevokedAt.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("key = %+v; want last used at the later time, revoked at the first revocation", keys[0])
		}
	})

	t.Run("the first key is created once, also when instances start together", func(t *testing.T) {
		db := open(t)
		var created atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, k := domain.NewAPIKey(domain.DefaultAccount, t0)
				ok, err := db.CreateFirstKey(ctx, k)
				if err != nil {
					t.Error(err)
				}
				if ok {
					created.Add(1)
				}
			}()
		}
		wg.Wait()
		if created.Load() != 1 {
			t.Fatalf("%d first keys created; want 1", created.Load())
		}
		keys, _ := db.Keys(ctx)
		if err := db.RevokeKey(ctx, keys[0].ID, t0); err != nil {
			t.Fatal(err)
		}
		_, k := domain.NewAPIKey(domain.DefaultAccount, t0)
		if ok, err := db.CreateFirstKey(ctx, k); ok || err != nil {
			t.Errorf("a first key again after the first was revoked: %v, %v; want none: a key is printed once, ever", ok, err)
		}
	})
}
