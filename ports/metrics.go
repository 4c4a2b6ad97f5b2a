package ports

import (
	"time"

	"github.com/ordergate/ordergate/domain"
)

// Attempt outcomes reported to Metrics.PlacementAttempt and
// Metrics.CancelAttempt.
const (
	// OutcomePlaced: the exchange acknowledged the order.
	OutcomePlaced = "placed"
	// OutcomeAccepted: the exchange accepted a cancel request.
	OutcomeAccepted = "accepted"
	// OutcomeRejected: the exchange refused the order, or the cancel
	// request, for good.
	OutcomeRejected = "rejected"
	// OutcomeFailed: a transient failure; the job is retried.
	OutcomeFailed = "failed"
	// OutcomeInterrupted: the call was cut short by shutdown; the job is
	// released for the next claim.
	OutcomeInterrupted = "interrupted"
)

// Metrics receives the core's measurements; an adapter exports them (see
// adapters/metrics for Prometheus). Implementations must be safe for
// concurrent use and must not block.
type Metrics interface {
	// OrderCreated counts one order committed by this process.
	OrderCreated()
	// PlacementAttempt records one exchange call: its outcome (one of the
	// Outcome constants) and how long the call took.
	PlacementAttempt(outcome string, took time.Duration)
	// OrderPlaced records how long an order took from its commit to the
	// exchange's acknowledgement.
	OrderPlaced(sinceCommit time.Duration)
	// CancelAttempt records one cancel call: its outcome (OutcomeAccepted,
	// OutcomeRejected, OutcomeFailed or OutcomeInterrupted) and how long it
	// took.
	CancelAttempt(outcome string, took time.Duration)
}

// FeedEvent is something that happened to the connection to the feed.
type FeedEvent string

// Feed events.
const (
	// FeedReconnect: the connection ended and was opened again.
	FeedReconnect FeedEvent = "reconnect"
	// FeedGap: a sequence number was missing (a dropped report).
	FeedGap FeedEvent = "gap"
	// FeedReplay: reports were asked for again from a sequence number.
	FeedReplay FeedEvent = "replay"
)

// FeedMetrics receives the ingester's measurements. Implementations must
// be safe for concurrent use and must not block.
type FeedMetrics interface {
	// ReportReceived counts one report read from the feed, duplicates
	// and reports out of order included.
	ReportReceived(kind domain.ReportKind)
	// BatchApplied records a committed batch: what it applied, and the
	// lag from each report's venue time to committed.
	BatchApplied(b Batch, a Applied, committed time.Time)
	// Event counts a reconnect, gap or replay.
	Event(e FeedEvent)
}

// EventMetrics receives the event stream's and the webhook senders'
// measurements. Implementations must be safe for concurrent use and must
// not block. (Events written and the webhook outbox's depth are read from
// the store when scraped: Events.LastEventID, Deliveries.DeliveryStats.)
type EventMetrics interface {
	// StreamOpened and StreamClosed count the connected stream clients.
	StreamOpened()
	StreamClosed()
	// EventsStreamed counts events sent to stream clients.
	EventsStreamed(n int)
	// StreamDropped counts a client disconnected for falling behind.
	StreamDropped()
	// WebhookAttempt records one delivery attempt: how it ended and how
	// long it took.
	WebhookAttempt(result DeliveryResult, took time.Duration)
}
