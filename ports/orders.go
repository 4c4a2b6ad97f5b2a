package ports

import (
	"context"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// Orders stores orders, each in its account. Every order it returns carries
// all of its fills. The reads and the cancel take the account asking: an
// order of another account is not found, exactly as an unknown one.
type Orders interface {
	// Create stores a pending order, in o.Account, and its placement job
	// in one transaction: afterwards both exist, or neither does. It
	// returns an error wrapping domain.ErrConflict if another order holds
	// o's ID; creating an order already stored exactly as o succeeds.
	Create(ctx context.Context, o domain.Order) error
	// Order returns account's order with the given ID, or an error wrapping
	// domain.ErrNotFound.
	Order(ctx context.Context, account domain.Account, id domain.ID) (domain.Order, error)
	// List returns q.Account's orders newest first (by ID, which is
	// time-ordered) as q selects them.
	List(ctx context.Context, q ListQuery) ([]domain.Order, error)
	// Cancel applies a client's cancel request to account's stored order
	// with the given ID, in one transaction: it locks the order, calls apply
	// with it and whether its placement was ever sent to the exchange
	// (apply is domain.RequestCancel, in effect), and stores what apply
	// returns. An order that went to pending_cancel gets a cancel job, due
	// once the exchange has acknowledged the placement; one canceled
	// without the exchange loses its placement job. It returns the order
	// as stored, an error wrapping domain.ErrNotFound, or apply's error
	// (domain.ErrTransition for an order that cannot be canceled), in which
	// case nothing changes.
	Cancel(ctx context.Context, account domain.Account, id domain.ID, apply CancelFunc) (domain.Order, error)
}

// CancelFunc decides what a cancel request does to order o; placementSent
// says whether its placement may have reached the exchange.
type CancelFunc func(o domain.Order, placementSent bool) (domain.Order, []domain.Event, error)

// Keys stores orders under clients' idempotency keys, which belong to an
// account: two accounts may use the same key.
type Keys interface {
	// CreateOnce stores o and its placement job like Orders.Create, and
	// records key in o.Account with o's fingerprint, all in one
	// transaction. If the account recorded key already it stores nothing
	// and returns the order first created under it with replayed true, or,
	// if that order's fingerprint differs, an error wrapping
	// domain.ErrKeyReused. Concurrent calls with one key create one order.
	CreateOnce(ctx context.Context, key domain.IdempotencyKey, o domain.Order) (stored domain.Order, replayed bool, err error)
	// PurgeKeys forgets keys recorded before t and returns how many.
	PurgeKeys(ctx context.Context, before time.Time) (int, error)
}

// ListQuery selects a page of orders.
type ListQuery struct {
	// Account is whose orders to list.
	Account domain.Account
	// Before, if not zero, keeps only orders with a smaller (older) ID: the
	// last ID of the previous page.
	Before domain.ID
	// Status, if not empty, keeps only orders with this status.
	Status domain.Status
	// Limit is the most orders to return; it must be at least 1.
	Limit int
}
