package domain

import (
	"fmt"
	"slices"
	"time"
)

// Status is where an order stands in its life at the exchange.
type Status string

// Order statuses, in the contract's order.
const (
	// Pending orders are stored; their placement is guaranteed and under way.
	Pending Status = "pending"
	// Placed orders were acknowledged by the exchange and are working, with
	// nothing filled yet.
	Placed Status = "placed"
	// PartiallyFilled orders have part of their quantity filled; the rest is
	// working.
	PartiallyFilled Status = "partially_filled"
	// PendingCancel orders are to be canceled at the client's request; the
	// exchange has not confirmed yet.
	PendingCancel Status = "pending_cancel"
	// Filled orders have their whole quantity filled.
	Filled Status = "filled"
	// Canceled orders were canceled, possibly after part of them filled.
	Canceled Status = "canceled"
	// Expired orders had their unfilled rest ended by the exchange at its
	// time limit.
	Expired Status = "expired"
	// Rejected orders were refused by the exchange for good.
	Rejected Status = "rejected"
)

// statuses are listed in the contract's order; ranks are their FIX-style
// precedence, so that a late report of a lower rank never overwrites a
// higher one.
var (
	statuses = []Status{Pending, Placed, PartiallyFilled, PendingCancel, Filled, Canceled, Expired, Rejected}
	ranks    = map[Status]int{Pending: 0, Placed: 1, PartiallyFilled: 2, PendingCancel: 3, Rejected: 4, Expired: 5, Canceled: 6, Filled: 7}
)

// Statuses returns every status in the contract's order, for API enums and
// SQL CHECK constraints.
func Statuses() []Status { return slices.Clone(statuses) }

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	_, ok := ranks[s]
	return ok
}

// Terminal reports whether s ends the order's life: filled, canceled,
// expired or rejected.
func (s Status) Terminal() bool {
	return s == Filled || s == Canceled || s == Expired || s == Rejected
}

// Rank is s's precedence: pending < placed < partially_filled <
// pending_cancel < rejected < expired < canceled < filled. It is -1 for an
// unknown status.
func (s Status) Rank() int {
	if r, ok := ranks[s]; ok {
		return r
	}
	return -1
}

// Trigger is something that happens to an order: the input of its lifecycle.
type Trigger string

// Triggers, one per thing that can happen to an order.
const (
	// TriggerAck is the exchange acknowledging the placement.
	TriggerAck Trigger = "ack"
	// TriggerFill is an execution; whether it fills the order partly or
	// completely is decided by the quantities, not by the report's kind.
	TriggerFill Trigger = "fill"
	// TriggerCanceled is the exchange confirming a cancel.
	TriggerCanceled Trigger = "canceled"
	// TriggerExpired is the exchange ending the order at its time limit.
	TriggerExpired Trigger = "expired"
	// TriggerRejected is the exchange refusing the order for good, in answer
	// to the placement call or on its feed.
	TriggerRejected Trigger = "rejected"
	// TriggerCancelRejected is the exchange refusing a cancel request.
	TriggerCancelRejected Trigger = "cancel_rejected"
	// TriggerCancelRequest is the client asking to cancel an order whose
	// placement was sent, or may be in flight.
	TriggerCancelRequest Trigger = "cancel_request"
	// TriggerCancelLocal is the client asking to cancel an order whose
	// placement was never sent: it is canceled without asking the exchange.
	TriggerCancelLocal Trigger = "cancel_local"
)

// Pseudo-statuses for the table entries that do not name a fixed target.
const (
	// keep leaves the status as it is: the input is late, lower-ranked or a
	// duplicate. A fill still counts.
	keep Status = "(keep)"
	// refuse means the input is not allowed: ErrTransition.
	refuse Status = "(refuse)"
	// working is the status the order's own progress gives it: pending until
	// acknowledged, placed once acknowledged, partially_filled once
	// something is filled (and filled when everything is, see settle).
	working Status = "(working)"
)

type edge struct {
	from Status
	on   Trigger
}

// transitions is the order lifecycle: for every status and trigger, the
// next status. Apply, Acknowledge, Reject and RequestCancel all go through
// it, and one rule on top of it (settle): an order whose fills complete its
// quantity is filled, unless it has already ended.
//
// Every entry keeps or raises the status's rank, except two, each marked
// "rank exception" below. An ended status never changes, except rejected
// when the exchange's own reports (ack, canceled, expired) show that it
// had taken the order after all.
var transitions = map[edge]Status{
	{Pending, TriggerAck}:         Placed,
	{Placed, TriggerAck}:          keep,
	{PartiallyFilled, TriggerAck}: keep,
	{PendingCancel, TriggerAck}:   keep,
	{Filled, TriggerAck}:          keep,
	{Canceled, TriggerAck}:        keep,
	{Expired, TriggerAck}:         keep,
	// Rank exception: one call of the order was refused for good, another
	// acknowledged. The order ends
	// as the exchange's own record says, and that record has the
	// acknowledgement, so the order comes back to life, with any fills
	// counted meanwhile. A cancel that was pending when the refusal came
	// is forgotten: the client may ask again.
	{Rejected, TriggerAck}: working,

	{Pending, TriggerFill}: PartiallyFilled,
	{Placed, TriggerFill}:  PartiallyFilled,
	// A fill after a cancel request still counts; the cancel stays pending
	// unless the fill completes the order, which settle makes filled.
	{PartiallyFilled, TriggerFill}: keep,
	{PendingCancel, TriggerFill}:   keep,
	// A delayed fill on an ended order counts toward the filled quantity,
	// but the status stays. On a rejected order the acknowledgement, which
	// the exchange sent before any fill, brings it back (see above).
	{Filled, TriggerFill}:   keep,
	{Canceled, TriggerFill}: keep,
	{Expired, TriggerFill}:  keep,
	{Rejected, TriggerFill}: keep,

	{Pending, TriggerCanceled}:         Canceled,
	{Placed, TriggerCanceled}:          Canceled,
	{PartiallyFilled, TriggerCanceled}: Canceled,
	{PendingCancel, TriggerCanceled}:   Canceled,
	{Filled, TriggerCanceled}:          keep,
	{Canceled, TriggerCanceled}:        keep,
	{Expired, TriggerCanceled}:         keep,
	// A rejected order the exchange cancels or expires was acknowledged
	// there after all (as with TriggerAck above), and the exchange's end
	// wins, whichever report comes first.
	{Rejected, TriggerCanceled}: Canceled,

	{Pending, TriggerExpired}:         Expired,
	{Placed, TriggerExpired}:          Expired,
	{PartiallyFilled, TriggerExpired}: Expired,
	{PendingCancel, TriggerExpired}:   Expired,
	{Filled, TriggerExpired}:          keep,
	{Canceled, TriggerExpired}:        keep,
	{Expired, TriggerExpired}:         keep,
	{Rejected, TriggerExpired}:        Expired,

	// A refusal before any acknowledgement ends the order, a pending
	// cancel included: there is nothing left to cancel.
	{Pending, TriggerRejected}:       Rejected,
	{PendingCancel, TriggerRejected}: Rejected,
	// An acknowledged or filled order stays: the refusal of one call does
	// not undo the exchange's acknowledgement of another.
	{Placed, TriggerRejected}:          keep,
	{PartiallyFilled, TriggerRejected}: keep,
	{Filled, TriggerRejected}:          keep,
	{Canceled, TriggerRejected}:        keep,
	{Expired, TriggerRejected}:         keep,
	{Rejected, TriggerRejected}:        keep,

	{Pending, TriggerCancelRejected}:         keep,
	{Placed, TriggerCancelRejected}:          keep,
	{PartiallyFilled, TriggerCancelRejected}: keep,
	// Rank exception: the exchange refused the cancel, so the order goes
	// back to working: placed, partially_filled, or pending when it is not
	// acknowledged yet.
	{PendingCancel, TriggerCancelRejected}: working,
	{Filled, TriggerCancelRejected}:        keep,
	{Canceled, TriggerCancelRejected}:      keep,
	{Expired, TriggerCancelRejected}:       keep,
	{Rejected, TriggerCancelRejected}:      keep,

	{Pending, TriggerCancelRequest}:         PendingCancel,
	{Placed, TriggerCancelRequest}:          PendingCancel,
	{PartiallyFilled, TriggerCancelRequest}: PendingCancel,
	// Asking again changes nothing; the API answers 202 again.
	{PendingCancel, TriggerCancelRequest}: keep,
	{Canceled, TriggerCancelRequest}:      keep,
	// Nothing is left to cancel; the API answers 409.
	{Filled, TriggerCancelRequest}:   refuse,
	{Expired, TriggerCancelRequest}:  refuse,
	{Rejected, TriggerCancelRequest}: refuse,

	{Pending, TriggerCancelLocal}:         Canceled,
	{Placed, TriggerCancelLocal}:          refuse,
	{PartiallyFilled, TriggerCancelLocal}: refuse,
	{PendingCancel, TriggerCancelLocal}:   refuse,
	{Filled, TriggerCancelLocal}:          refuse,
	{Canceled, TriggerCancelLocal}:        refuse,
	{Expired, TriggerCancelLocal}:         refuse,
	{Rejected, TriggerCancelLocal}:        refuse,
}

// transition applies trigger on to o at time at, after adding fill f (nil
// for inputs that are not executions) and recording reason (for
// rejections), and returns the order with the events that describe its
// change. Callers check f is new and fits the quantity.
func transition(o Order, on Trigger, f *Fill, reason string, at time.Time) (Order, []Event, error) {
	to, ok := transitions[edge{o.Status, on}]
	if !ok || to == refuse {
		return o, nil, fmt.Errorf("%w: %s on a %s order", ErrTransition, on, o.Status)
	}
	n := o
	if f != nil {
		// Clipped, so that the caller's order never shares the new fill.
		n.Fills = append(slices.Clip(o.Fills), *f)
	}
	// The earliest acknowledgement, whichever of the dispatcher's and the
	// feed's arrives first.
	if on == TriggerAck && (n.PlacedAt.IsZero() || at.Before(n.PlacedAt)) {
		n.PlacedAt = at
	}
	// Recorded even when the status stays, for operators.
	if on == TriggerRejected && reason != "" {
		n.LastError = reason
	}
	n.Status = n.settle(to)

	var events []Event
	switch {
	case f != nil && n.complete():
		events = []Event{{Type: EventFilled, Fill: f}}
	case f != nil:
		events = []Event{{Type: EventPartiallyFilled, Fill: f}}
	case n.Status != o.Status:
		events = []Event{{Type: eventOf(n.Status)}}
	}
	changed := len(events) > 0 || !n.PlacedAt.Equal(o.PlacedAt) || n.LastError != o.LastError
	// Reports arrive out of order; the order's time only moves forward.
	if changed && at.After(n.UpdatedAt) {
		n.UpdatedAt = at
	}
	return n, events, nil
}

// settle resolves a table entry for o, whose fills are already counted.
func (o Order) settle(to Status) Status {
	switch to {
	case keep:
		to = o.Status
	case working:
		switch {
		case o.FilledQuantity() > 0:
			to = PartiallyFilled
		case !o.PlacedAt.IsZero():
			to = Placed
		default:
			to = Pending
		}
	}
	// A fill that completes the order wins over anything still working,
	// pending_cancel included: the exchange has nothing left to cancel.
	if !to.Terminal() && o.complete() {
		to = Filled
	}
	return to
}

// complete reports whether o's fills add up to its whole quantity.
func (o Order) complete() bool { return o.Quantity > 0 && o.FilledQuantity() >= o.Quantity }
