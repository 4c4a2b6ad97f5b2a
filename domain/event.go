package domain

import (
	"errors"
	"slices"
	"time"
)

// EventType names a change of an order, as clients see it on the event
// stream and in webhooks.
type EventType string

// Event types, one per status. A change back to pending (a refused cancel
// of an order the exchange has not acknowledged yet) is order.created
// again: the order is as it was when created.
const (
	// EventCreated is a new order. New does not return it: the caller that
	// stores the order emits it, in the same transaction.
	EventCreated EventType = "order.created"
	// EventPlaced is the exchange's acknowledgement, or a refused cancel
	// that leaves the order working with nothing filled.
	EventPlaced EventType = "order.placed"
	// EventPartiallyFilled is a fill that leaves part of the order open,
	// whatever its status.
	EventPartiallyFilled EventType = "order.partially_filled"
	// EventFilled is the order's whole quantity filled, normally by the
	// fill it carries.
	EventFilled EventType = "order.filled"
	// EventPendingCancel is the client's cancel request, accepted.
	EventPendingCancel EventType = "order.pending_cancel"
	// EventCanceled is the order canceled, by the exchange or locally.
	EventCanceled EventType = "order.canceled"
	// EventExpired is the exchange ending the order at its time limit.
	EventExpired EventType = "order.expired"
	// EventRejected is the exchange refusing the order for good.
	EventRejected EventType = "order.rejected"
)

var (
	eventTypes   = []EventType{EventCreated, EventPlaced, EventPartiallyFilled, EventFilled, EventPendingCancel, EventCanceled, EventExpired, EventRejected}
	statusEvents = map[Status]EventType{
		Pending:         EventCreated,
		Placed:          EventPlaced,
		PartiallyFilled: EventPartiallyFilled,
		PendingCancel:   EventPendingCancel,
		Filled:          EventFilled,
		Canceled:        EventCanceled,
		Expired:         EventExpired,
		Rejected:        EventRejected,
	}
)

// EventTypes returns every event type in the contract's order.
func EventTypes() []EventType { return slices.Clone(eventTypes) }

// eventOf returns the event of a change to status s.
func eventOf(s Status) EventType { return statusEvents[s] }

// Event is one change of an order. A change of status is the event of the
// new status; a fill is order.partially_filled, or order.filled when it
// completes the order, and carries the fill, also when the status stays
// (a fill while pending_cancel). An input that changes nothing has no
// event.
type Event struct {
	Type EventType
	// Fill is the execution that caused the event; nil for other events.
	Fill *Fill
}

// EventID is an event's position in the stream of every account's events:
// an event committed later has a larger ID, so a reader that saw ID n
// misses nothing by asking for the events after n. IDs start at 1.
type EventID int64

// OrderEvent is a stored event, as clients receive it on the event stream
// and in webhooks: the change, the order as it was after the change, and
// the fill that caused it, if one did.
type OrderEvent struct {
	ID      EventID
	Account Account
	Type    EventType
	// OccurredAt is when the change was stored.
	OccurredAt time.Time
	// Order is the order as after the change, without its fills: an event
	// carries what they add up to (Filled, AverageFillPrice) instead, so
	// that an order filled n times does not store its fills n times over
	// in its events. Order.Fills is nil.
	Order Order
	// Filled is the order's filled quantity after the change, and
	// AverageFillPrice the quantity-weighted mean price of its fills (see
	// Order.AverageFillPrice), nil while nothing is filled.
	Filled           int64
	AverageFillPrice *Decimal
	// Fill is the execution that caused the event; nil for other events.
	Fill *Fill
}

// NewOrderEvent returns the event of type typ about o as after the change,
// caused by fill (nil if no fill did): o without its fills, and what they
// add up to. It has no ID, account or time yet.
func NewOrderEvent(typ EventType, o Order, fill *Fill) OrderEvent {
	e := OrderEvent{Type: typ, Order: o, Filled: o.FilledQuantity(), Fill: fill}
	if avg, ok := o.AverageFillPrice(); ok {
		e.AverageFillPrice = &avg
	}
	e.Order.Fills = nil
	return e
}

// EventRetention is how long events are kept at least: a client may resume
// the stream from any event younger than this.
const EventRetention = 7 * 24 * time.Hour

// ErrEventsGone means the events asked for are older than what is kept.
var ErrEventsGone = errors.New("events no longer kept")
