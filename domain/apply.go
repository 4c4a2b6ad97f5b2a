package domain

import (
	"fmt"
	"time"
)

// Apply returns o after the execution report r, with the events that
// describe the change (none when nothing changed). It does no I/O: the
// caller stores the order and its events in one transaction.
//
// Reports may come late, twice or out of order, and Apply gives the same
// order for any arrival order of one exchange's reports: a fill whose
// ExecID o already has changes nothing, a lower-ranked status never
// overwrites a higher one, the filled quantity only grows, and a fill
// that would take it past the order's quantity is refused with an error
// wrapping ErrOverfill. A rejection's reason goes to LastError. An invalid
// report, or one about another order, is an error wrapping ErrInvalid. On
// error o comes back unchanged.
func Apply(o Order, r Report) (Order, []Event, error) {
	if err := r.Validate(); err != nil {
		return o, nil, fmt.Errorf("report %d: %w", r.Seq, err)
	}
	if r.OrderID != o.ID {
		return o, nil, fmt.Errorf("report %d: %w", r.Seq, &ValidationError{Field: "order_id", Reason: "is " + r.OrderID.String() + ", not " + o.ID.String()})
	}
	trigger := r.Kind.Trigger()
	var fill *Fill
	if trigger == TriggerFill {
		for _, f := range o.Fills {
			if f.ExecID == r.ExecID {
				return o, nil, nil
			}
		}
		if filled := o.FilledQuantity(); filled+r.LastQty > o.Quantity {
			return o, nil, fmt.Errorf("report %d: %w: %d more on %d of %d", r.Seq, ErrOverfill, r.LastQty, filled, o.Quantity)
		}
		fill = &Fill{ExecID: r.ExecID, Quantity: r.LastQty, Price: r.LastPrice, ExecutedAt: r.At}
	}
	n, events, err := transition(o, trigger, fill, r.Reason, r.At)
	if err != nil {
		return o, nil, fmt.Errorf("report %d: %w", r.Seq, err)
	}
	return n, events, nil
}

// Acknowledge returns o after the dispatcher's placement call was
// acknowledged at time at. It is the feed's ack by another road: the two
// may arrive in either order, and PlacedAt keeps the earlier.
func Acknowledge(o Order, at time.Time) (Order, []Event, error) {
	return transition(o, TriggerAck, nil, "", at)
}

// Reject returns o after the exchange refused the dispatcher's placement
// call for good at time at, with the reason in LastError. An order the
// exchange has already acknowledged keeps its status.
func Reject(o Order, reason string, at time.Time) (Order, []Event, error) {
	return transition(o, TriggerRejected, nil, reason, at)
}

// RequestCancel returns o after the client asked to cancel it at time at.
// An order whose placement was never sent (placementSent false) is
// canceled at once, without asking the exchange; any other order goes to
// pending_cancel until the exchange answers. Asking again changes nothing.
// A filled, expired or rejected order cannot be canceled: the error wraps
// ErrTransition.
func RequestCancel(o Order, placementSent bool, at time.Time) (Order, []Event, error) {
	trigger := TriggerCancelRequest
	if !placementSent && o.Status == Pending {
		trigger = TriggerCancelLocal
	}
	return transition(o, trigger, nil, "", at)
}
