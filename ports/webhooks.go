package ports

import (
	"context"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// Webhooks stores the endpoints accounts register for their events.
type Webhooks interface {
	// CreateWebhook stores w. Events committed from then on are delivered
	// to it.
	CreateWebhook(ctx context.Context, w domain.Webhook) error
	// Webhooks returns account's endpoints, disabled ones included, oldest
	// first.
	Webhooks(ctx context.Context, account domain.Account) ([]domain.Webhook, error)
	// DeleteWebhook removes account's endpoint id and its pending
	// deliveries, or returns an error wrapping domain.ErrNotFound.
	DeleteWebhook(ctx context.Context, account domain.Account, id domain.WebhookID) error
}

// Delivery is one event owed to one endpoint, claimed by a sender.
type Delivery struct {
	Webhook domain.Webhook
	Event   domain.OrderEvent
	// Attempts counts the delivery attempts settled before this one.
	Attempts int
	// Owner and LeaseUntil are the claim's; settles are fenced by them.
	Owner      string
	LeaseUntil time.Time
	// Enqueued is when the delivery was written, with its event.
	Enqueued time.Time
}

// DeliveryClaim asks for due deliveries.
type DeliveryClaim struct {
	// Owner names the claiming sender, unique per process.
	Owner string
	// Now is the claim's time on the store's clock; LeaseUntil when the
	// leases of what it claims run out.
	Now, LeaseUntil time.Time
	// Limit is the most deliveries to claim.
	Limit int
	// PerEndpoint is the most deliveries to one endpoint leased at once,
	// counting those already leased by anyone: one slow endpoint holds at
	// most that many.
	PerEndpoint int
}

// DeliveryResult is how a delivery attempt ended.
type DeliveryResult int

// Delivery results.
const (
	// Delivered: the endpoint answered 2xx in time; the delivery is done.
	Delivered DeliveryResult = iota + 1
	// RetryDelivery: any other answer, or none; due again at Due.
	RetryDelivery
	// GiveUp: retried for longer than the retry period; dropped.
	GiveUp
	// EndpointGone: the endpoint answered 410 Gone; it is disabled and its
	// pending deliveries dropped.
	EndpointGone
)

// DeliveryOutcome is what a sender records after an attempt.
type DeliveryOutcome struct {
	Result DeliveryResult
	// At is when the attempt ended; Due when to try again (RetryDelivery).
	At, Due time.Time
	// Cause says why an attempt failed (the status or the error).
	Cause string
}

// DeliveryStats describes the webhook outbox at one moment.
type DeliveryStats struct {
	// Pending counts deliveries not yet done.
	Pending int64
	// Oldest is when the oldest pending delivery was written; zero if none.
	Oldest time.Time
}

// Deliveries is the webhook outbox: deliveries written with each event,
// claimed and settled by senders on any number of instances, like the
// order outbox. Claims never return a delivery leased to another sender.
type Deliveries interface {
	// ClaimDeliveries leases up to c.Limit due deliveries of events that
	// have their IDs, oldest due first, at most c.PerEndpoint per endpoint,
	// none to a disabled endpoint.
	ClaimDeliveries(ctx context.Context, c DeliveryClaim) ([]Delivery, error)
	// SettleDelivery records d's outcome. It returns an error wrapping
	// domain.ErrLeaseLost if d's lease was taken over, and records nothing.
	SettleDelivery(ctx context.Context, d Delivery, o DeliveryOutcome) error
	// ReleaseDeliveries hands back deliveries claimed but never attempted:
	// due at now, the claim not counted.
	ReleaseDeliveries(ctx context.Context, ds []Delivery, now time.Time) error
	// DeliveryStats counts the pending deliveries.
	DeliveryStats(ctx context.Context) (DeliveryStats, error)
}

// WebhookSender posts a signed delivery to an endpoint.
type WebhookSender interface {
	// Send POSTs body to url with headers and returns the status the
	// endpoint answered; err is a failure to get an answer (a refused
	// address, a timeout, a connection error).
	Send(ctx context.Context, url string, headers map[string]string, body []byte) (status int, err error)
}

// AddressGuard decides whether a webhook URL may be registered: its host
// must resolve only to addresses deliveries may go to (see
// domain.PublicAddress), unless private addresses are allowed. Senders
// check again when they connect, against DNS rebinding.
type AddressGuard interface {
	// CheckWebhookURL returns a *domain.ValidationError naming "url" if
	// u's host is refused or does not resolve.
	CheckWebhookURL(ctx context.Context, u string) error
}
