package ports

import (
	"context"

	"github.com/ordergate/ordergate/domain"
)

// Exchange places and cancels orders at a stock exchange. Errors wrapping
// domain.ErrRejected are permanent; any other error is transient and the
// caller retries.
type Exchange interface {
	// Place sends o to the exchange with o.ID as the client order ID, and
	// returns nil once the exchange acknowledged it. Placing the same ID
	// twice must not execute the order twice.
	Place(ctx context.Context, o domain.Order) error
	// Cancel asks the exchange to cancel the rest of the order with the
	// given client order ID, and returns nil once it accepted the request.
	// How the cancel ends (canceled, or refused because a fill came first)
	// the exchange reports on its feed. An error wrapping
	// domain.ErrRejected means it refused the request at once (an unknown
	// or finished order).
	Cancel(ctx context.Context, id domain.ID) error
}

// Feed is an exchange's execution-report feed: every report about every
// order, numbered per venue session by a sequence number that rises by
// one per report.
type Feed interface {
	// Subscribe opens the feed. If session is the venue's current session,
	// the first report is the one numbered from; otherwise (a new session,
	// or "" for none) it is the session's first. It returns an error
	// wrapping domain.ErrFeedTruncated if the venue no longer keeps the
	// report numbered from.
	Subscribe(ctx context.Context, session string, from int64) (Subscription, error)
}

// Subscription is an open feed. Reports come in the order the venue sends
// them, which a faulty connection may duplicate, reorder or leave gaps in:
// the caller checks the sequence numbers.
type Subscription interface {
	// Session names the venue session the sequence numbers belong to.
	Session() string
	// Next returns the next report, waiting for one until ctx ends. An
	// error ends the subscription: the caller subscribes again.
	Next(ctx context.Context) (domain.Report, error)
	// Close ends the subscription.
	Close() error
}

// Gate tells the dispatcher whether to call the exchange at all: a circuit
// breaker in front of an exchange that keeps failing. While it is not
// ready the dispatcher claims no jobs, so they keep their place and their
// attempt count.
type Gate interface {
	// Ready reports whether calls may go out now.
	Ready() bool
	// State names the gate's state, for operators.
	State() GateState
}

// GateState is the state of a Gate.
type GateState string

// Gate states, those of a circuit breaker.
const (
	// GateClosed lets every call through.
	GateClosed GateState = "closed"
	// GateHalfOpen lets one probe call through.
	GateHalfOpen GateState = "half-open"
	// GateOpen lets no call through.
	GateOpen GateState = "open"
)

// GateStates lists every GateState.
func GateStates() []GateState { return []GateState{GateClosed, GateHalfOpen, GateOpen} }
