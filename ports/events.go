package ports

import (
	"context"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// Events reads the events a store writes in the same transaction as each
// change of an order: Orders.Create and Keys.CreateOnce (order.created),
// Orders.Cancel, Outbox.Settle and Executions.ApplyReports each write the
// events of the changes they make, and, for each event, one webhook
// delivery per enabled endpoint of the event's account.
//
// An event is readable once it has its ID. IDs follow commit order: a
// reader that has read every event up to ID n never later finds one at or
// below n, however many transactions commit events at once, on however
// many instances (on PostgreSQL, where IDs taken inside transactions would
// not follow commit order, IDs are assigned after commit; see
// SequenceEvents).
type Events interface {
	// EventsAfter returns up to q.Limit events with IDs above q.After, in
	// ID order: q.Account's, or every account's if q.Account is empty. It
	// returns an error wrapping domain.ErrEventsGone if events above
	// q.After were purged already (q.After is older than what is kept).
	EventsAfter(ctx context.Context, q EventQuery) ([]domain.OrderEvent, error)
	// OrderEvents returns the events of account's order id, oldest first,
	// or an error wrapping domain.ErrNotFound for an order account does not
	// hold.
	OrderEvents(ctx context.Context, account domain.Account, id domain.ID) ([]domain.OrderEvent, error)
	// LastEventID returns the largest event ID assigned, 0 if none.
	LastEventID(ctx context.Context) (domain.EventID, error)
	// SequenceEvents gives IDs to the events committed without one, in
	// the order they were written, and returns how many it gave. One call
	// at a time runs in the whole database; concurrent calls, from any
	// process, wait their turn, so that each finds what the one before it
	// could not see yet. Stores whose transactions commit one at a time
	// (SQLite) give IDs as they write and always return 0.
	SequenceEvents(ctx context.Context) (int, error)
	// PurgeEvents deletes events that occurred before t, with their
	// deliveries, and returns how many events it deleted. Afterwards
	// EventsAfter below the largest ID deleted fails with
	// domain.ErrEventsGone.
	PurgeEvents(ctx context.Context, before time.Time) (int, error)
}

// EventQuery selects events.
type EventQuery struct {
	// Account is whose events to read; empty reads every account's.
	Account domain.Account
	// After is the ID of the last event the reader has; 0 reads from the
	// first event kept.
	After domain.EventID
	// Limit is the most events to return; it must be at least 1.
	Limit int
}

// EventSignal tells a process that events may have become readable: when
// this process committed events (or sequenced them), and, where the store
// can tell (PostgreSQL's LISTEN/NOTIFY), when another process did. It is
// a hint: readers still poll, slowly, in case a signal was lost.
type EventSignal interface {
	// EventsSignal returns a channel that receives a value, without
	// blocking the sender, after events may have become readable, and a
	// function that stops the signals and closes the channel.
	EventsSignal() (<-chan struct{}, func())
}
