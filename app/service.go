// Package app holds ordergate's use cases: placing, reading, listing and
// canceling orders (Service), the retrying outbox dispatcher that places
// every stored order at the exchange and sends its cancel requests
// (Dispatcher), the ingester that follows every order's life from the
// exchange's execution-report feed (Ingester), the hub that streams each
// account's order events to its clients (EventHub), and the sender of the
// webhook outbox (WebhookDispatcher), which runs on the same lease loop as
// the Dispatcher. It depends only on domain and ports, so it runs with any
// store and exchange adapter, or with mocks.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// Page limits for ListOrders.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Service runs the order use cases.
type Service struct {
	orders  ports.Orders
	keys    ports.Keys
	clock   ports.Clock
	wake    func()
	metrics ports.Metrics
	events  ports.Events
	hooks   ports.Webhooks
	guard   ports.AddressGuard
}

// ServiceOption configures a Service.
type ServiceOption func(*Service)

// WithMetrics makes the Service count the orders it commits in m.
func WithMetrics(m ports.Metrics) ServiceOption {
	return func(s *Service) {
		if m != nil {
			s.metrics = m
		}
	}
}

// NewService returns a Service that stores orders in orders (and, for
// requests with an idempotency key, in keys) and reads the time from clock.
// wake, if not nil, is called after each order is committed; pass
// Dispatcher.Wake so placement starts at once.
func NewService(orders ports.Orders, keys ports.Keys, clock ports.Clock, wake func(), opts ...ServiceOption) *Service {
	if wake == nil {
		wake = func() {}
	}
	s := &Service{orders: orders, keys: keys, clock: clock, wake: wake, metrics: nopMetrics{}}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// SystemClock is the host's clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// nopMetrics discards measurements.
type nopMetrics struct{}

func (nopMetrics) OrderCreated()                          {}
func (nopMetrics) PlacementAttempt(string, time.Duration) {}
func (nopMetrics) OrderPlaced(time.Duration)              {}
func (nopMetrics) CancelAttempt(string, time.Duration)    {}

// PlaceOrder validates spec, then stores the order, in account, and its
// placement job in one transaction. When it returns nil the order is
// durable and its placement guaranteed. Invalid specs give
// domain.ValidationErrors (matching domain.ErrInvalid) and store nothing.
func (s *Service) PlaceOrder(ctx context.Context, account domain.Account, spec domain.Spec) (domain.Order, error) {
	o, err := s.newOrder(account, spec)
	if err != nil {
		return domain.Order{}, err
	}
	if err := s.orders.Create(ctx, o); err != nil {
		if errors.Is(err, domain.ErrConflict) {
			// A new random ID taken by another order is this process's
			// fault, not the client's: an internal error, never a 409.
			return domain.Order{}, fmt.Errorf("store order %s: its new ID is taken: %v", o.ID, err) //nolint:errorlint // the sentinel must not reach the client
		}
		return domain.Order{}, fmt.Errorf("store order %s: %w", o.ID, err)
	}
	s.metrics.OrderCreated()
	s.wake()
	return o, nil
}

// PlaceOrderOnce is PlaceOrder under a client's idempotency key, which is
// the account's: the first call with key places the order; a repeat with
// the same request returns that order with replayed true and stores
// nothing; a repeat with a different request fails with an error wrapping
// domain.ErrKeyReused.
func (s *Service) PlaceOrderOnce(ctx context.Context, account domain.Account, key domain.IdempotencyKey, spec domain.Spec) (o domain.Order, replayed bool, err error) {
	o, err = s.newOrder(account, spec)
	if err != nil {
		return domain.Order{}, false, err
	}
	stored, replayed, err := s.keys.CreateOnce(ctx, key, o)
	if err != nil {
		return domain.Order{}, false, fmt.Errorf("store order %s under idempotency key: %w", o.ID, err)
	}
	if !replayed {
		s.metrics.OrderCreated()
		s.wake()
	}
	return stored, replayed, nil
}

// newOrder validates spec into a new order of account.
func (s *Service) newOrder(account domain.Account, spec domain.Spec) (domain.Order, error) {
	if account == "" {
		return domain.Order{}, errors.New("an order needs an account") // a caller's bug, not the client's
	}
	now := s.clock.Now()
	o, err := domain.New(domain.NewID(now), now, spec)
	if err != nil {
		return domain.Order{}, err
	}
	o.Account = account
	return o, nil
}

// Order returns account's order with the given ID, or an error wrapping
// domain.ErrNotFound (for another account's order too).
func (s *Service) Order(ctx context.Context, account domain.Account, id domain.ID) (domain.Order, error) {
	o, err := s.orders.Order(ctx, account, id)
	if err != nil {
		return domain.Order{}, fmt.Errorf("read order %s: %w", id, err)
	}
	return o, nil
}

// CancelOrder asks to cancel account's order with the given ID. An order whose
// placement was never sent is canceled at once, without the exchange; any
// other order still working goes to pending_cancel, and its cancel request
// is sent through the outbox once the exchange has acknowledged the
// placement. Asking again changes nothing. It returns the order as stored,
// an error wrapping domain.ErrNotFound, or one wrapping
// domain.ErrTransition for an order that is filled, expired or rejected.
func (s *Service) CancelOrder(ctx context.Context, account domain.Account, id domain.ID) (domain.Order, error) {
	now := s.clock.Now()
	o, err := s.orders.Cancel(ctx, account, id, func(o domain.Order, placementSent bool) (domain.Order, []domain.Event, error) {
		return domain.RequestCancel(o, placementSent, now)
	})
	if err != nil {
		return domain.Order{}, fmt.Errorf("cancel order %s: %w", id, err)
	}
	if o.Status == domain.PendingCancel {
		s.wake() // its cancel job may be due already
	}
	return o, nil
}

// Page is one page of a listing, newest order first.
type Page struct {
	Orders []domain.Order
	// Next is the ListQuery.Before value for the following page; zero when
	// this page is the last.
	Next domain.ID
}

// ListOrders returns one page of account's orders. A zero q.Limit means
// DefaultPageSize; a limit outside 1..MaxPageSize, or an unknown status,
// gives a domain.ValidationError.
func (s *Service) ListOrders(ctx context.Context, account domain.Account, q ports.ListQuery) (Page, error) {
	q.Account = account
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	if q.Limit < 1 || q.Limit > MaxPageSize {
		return Page{}, &domain.ValidationError{Field: "limit", Reason: fmt.Sprintf("must be between 1 and %d", MaxPageSize)}
	}
	if q.Status != "" && !q.Status.Valid() {
		return Page{}, &domain.ValidationError{Field: "status", Reason: "must be one of " + quotedStatuses()}
	}
	// Ask for one more than the page holds to learn whether a next page exists.
	want := q.Limit
	q.Limit++
	orders, err := s.orders.List(ctx, q)
	if err != nil {
		return Page{}, fmt.Errorf("list orders: %w", err)
	}
	var p Page
	if len(orders) > want {
		orders = orders[:want]
		p.Next = orders[want-1].ID
	}
	p.Orders = orders
	return p, nil
}

// quotedStatuses lists the statuses for an error message: "pending",
// "placed", ... or "rejected".
func quotedStatuses() string {
	all := domain.Statuses()
	q := make([]string, len(all))
	for i, s := range all {
		q[i] = strconv.Quote(string(s))
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// DefaultKeyRetention is how long idempotency keys are kept: the contract
// promises at least 24 hours.
const DefaultKeyRetention = 24 * time.Hour

// PurgeKeys runs until ctx is cancelled, forgetting idempotency keys older
// than retention every interval. Several instances may run it at once.
func PurgeKeys(ctx context.Context, keys ports.Keys, clock ports.Clock, retention, interval time.Duration, log *slog.Logger) {
	purgeEvery(ctx, "idempotency keys", keys.PurgeKeys, clock, retention, interval, log)
}

// purgeEvery runs until ctx is cancelled, calling purge with the time
// retention ago every interval and logging what it deleted (what names
// it) or why it failed.
func purgeEvery(ctx context.Context, what string, purge func(context.Context, time.Time) (int, error), clock ports.Clock, retention, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for ctx.Err() == nil {
		n, err := purge(ctx, clock.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("purge "+what, "err", err)
		case n > 0:
			log.Info("purged "+what, "count", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}
