package ports

import (
	"context"
	"time"

	"github.com/ordergate/ordergate/domain"
)

//go:generate go run github.com/matryer/moq@v0.8.1 -rm -pkg mocks -out mocks/metrics.go . Metrics

// Attempt outcomes reported to Metrics.PlacementAttempt.
const (
	// OutcomePlaced: the exchange acknowledged the order.
	OutcomePlaced = "placed"
	// OutcomeRejected: the exchange refused the order for good.
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
}

// OutboxStats describes the outbox at one moment.
type OutboxStats struct {
	// Pending is how many orders wait for placement (jobs not yet settled).
	Pending int64
	// Oldest is the ID of the oldest pending order, zero when none is
	// pending. IDs are time-ordered: domain.IDTime(Oldest) is its commit time.
	Oldest domain.ID
}

// OutboxStater reports the outbox's depth, for metrics and operators.
type OutboxStater interface {
	// OutboxStats counts the pending placement jobs.
	OutboxStats(ctx context.Context) (OutboxStats, error)
}
