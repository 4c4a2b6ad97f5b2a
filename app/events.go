package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// ErrStreamTooSlow ends an event stream whose client did not keep up: its
// buffer filled. The client resumes from the last event it received.
var ErrStreamTooSlow = errors.New("event stream client too slow: its buffer filled")

// ErrNoEvents is returned by the event and webhook use cases of a Service
// built without WithEvents or WithWebhooks.
var ErrNoEvents = errors.New("events are not configured")

// EventStream is one client's subscription to its account's events.
type EventStream interface {
	// Events delivers the account's events in ID order, each once; it is
	// closed when the stream ends. The events are shared with other
	// streams: read them, do not change them.
	Events() <-chan *domain.OrderEvent
	// Err says why the stream ended, once Events is closed:
	// ErrStreamTooSlow, the subscriber's context error, or a store error.
	Err() error
	// Close ends the stream and releases it; it may be called more than
	// once.
	Close()
}

// WithEvents makes the Service read stored events from events.
func WithEvents(events ports.Events) ServiceOption {
	return func(s *Service) { s.events = events }
}

// WithWebhooks makes the Service store webhook endpoints in hooks, each
// URL checked by guard when registered.
func WithWebhooks(hooks ports.Webhooks, guard ports.AddressGuard) ServiceOption {
	return func(s *Service) { s.hooks, s.guard = hooks, guard }
}

// OrderEvents returns the events of account's order id, oldest first, or
// an error wrapping domain.ErrNotFound.
func (s *Service) OrderEvents(ctx context.Context, account domain.Account, id domain.ID) ([]domain.OrderEvent, error) {
	if s.events == nil {
		return nil, ErrNoEvents
	}
	evs, err := s.events.OrderEvents(ctx, account, id)
	if err != nil {
		return nil, fmt.Errorf("read events of order %s: %w", id, err)
	}
	return evs, nil
}

// CreateWebhook registers rawURL as an endpoint for account's events and
// returns it with its secret. A URL that is not http or https, or whose
// host the guard refuses, gives a *domain.ValidationError naming "url".
func (s *Service) CreateWebhook(ctx context.Context, account domain.Account, rawURL string) (domain.Webhook, error) {
	if s.hooks == nil {
		return domain.Webhook{}, ErrNoEvents
	}
	w, err := domain.NewWebhook(account, rawURL, s.clock.Now())
	if err != nil {
		return domain.Webhook{}, err
	}
	if s.guard != nil {
		if err := s.guard.CheckWebhookURL(ctx, w.URL); err != nil {
			return domain.Webhook{}, err
		}
	}
	if err := s.hooks.CreateWebhook(ctx, w); err != nil {
		return domain.Webhook{}, fmt.Errorf("store webhook: %w", err)
	}
	return w, nil
}

// Webhooks returns account's endpoints, oldest first.
func (s *Service) Webhooks(ctx context.Context, account domain.Account) ([]domain.Webhook, error) {
	if s.hooks == nil {
		return nil, ErrNoEvents
	}
	ws, err := s.hooks.Webhooks(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	return ws, nil
}

// DeleteWebhook removes account's endpoint id, or returns an error
// wrapping domain.ErrNotFound.
func (s *Service) DeleteWebhook(ctx context.Context, account domain.Account, id domain.WebhookID) error {
	if s.hooks == nil {
		return ErrNoEvents
	}
	if err := s.hooks.DeleteWebhook(ctx, account, id); err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	return nil
}
