package httpapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ordergate/ordergate/domain"
)

// Event is an order event as the API renders it: the data of a message on
// GET /events, the body of a webhook delivery and an item of GET
// /orders/{id}/events are all this object, written by EventJSON.
type Event struct {
	EventID    int64      `json:"event_id" minimum:"1" doc:"The event's ID: events committed later have larger IDs. Resume the stream after it with Last-Event-ID or ?after=; it is also the webhook-id of the event's webhook deliveries." example:"1042"`
	Type       EventType  `json:"type"`
	OccurredAt Timestamp  `json:"occurred_at" doc:"When the change was stored, RFC 3339 in UTC." example:"2026-11-24T10:15:31.020000Z"`
	Order      Order      `json:"order" doc:"The order as it was after the change, exactly as get-order returns it."`
	Fill       *EventFill `json:"fill" doc:"The execution that caused the change; null for changes no fill caused."`
}

// EventFill is the fill an event carries: a Fill, rendered as list-fills
// renders it, under its own schema name so that the document can say it
// may be null.
type EventFill struct {
	_ struct{} `nullable:"true"`
	Fill
}

// EventType is the type of an event. Its values are the domain's
// (domain.EventTypes).
type EventType string

// eventDocs says what each event type means, for the document; a test
// checks every event type of the domain has its line.
var eventDocs = map[domain.EventType]string{
	domain.EventCreated:         "a new order, stored and pending (also an order back to pending after a refused cancel of an order not yet acknowledged)",
	domain.EventPlaced:          "the exchange acknowledged the order (or refused a cancel of an order with nothing filled)",
	domain.EventPartiallyFilled: "a fill that leaves part of the quantity open; the event carries it",
	domain.EventFilled:          "the whole quantity filled, normally by the fill the event carries",
	domain.EventPendingCancel:   "the client's cancel request was accepted",
	domain.EventCanceled:        "the order was canceled, by the exchange or before it reached it",
	domain.EventExpired:         "the exchange ended the unfilled rest at its time limit",
	domain.EventRejected:        "the exchange refused the order for good",
}

// Schema implements huma.SchemaProvider.
func (EventType) Schema(huma.Registry) *huma.Schema {
	return enumSchema("What changed.", domain.EventTypes(), eventDocs, domain.EventPartiallyFilled)
}

// toEvent renders e with the order and fill bodies the other operations
// use.
func toEvent(e domain.OrderEvent) Event {
	out := Event{
		EventID:    int64(e.ID),
		Type:       EventType(e.Type),
		OccurredAt: Timestamp(e.OccurredAt),
		// The event's order comes without its fills, with what they add
		// up to.
		Order: orderWithFills(e.Order, e.Filled, e.AverageFillPrice),
	}
	if e.Fill != nil {
		out.Fill = &EventFill{Fill: toFill(*e.Fill)}
	}
	return out
}

// EventJSON renders e as the contract's event object: {"event_id",
// "type", "occurred_at", "order", "fill"}, the order as get-order renders
// it and the fill as list-fills does, or null. The stream's data and the
// webhook deliveries are these bytes.
func EventJSON(e domain.OrderEvent) ([]byte, error) {
	b, err := json.Marshal(toEvent(e))
	if err != nil {
		return nil, fmt.Errorf("render event %d: %w", e.ID, err)
	}
	return b, nil
}

// EventList is an order's events.
type EventList struct {
	Events []Event `json:"events" nullable:"false" doc:"The order's events, oldest first."`
}

// ListOrderEventsInput is the request of list-order-events.
type ListOrderEventsInput struct {
	ID string `path:"id" doc:"Order ID (UUID)." example:"0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"`
}

// ListOrderEventsOutput is the answer of list-order-events.
type ListOrderEventsOutput struct {
	Body EventList
}

func (h *handlers) listOrderEvents(ctx context.Context, in *ListOrderEventsInput) (*ListOrderEventsOutput, error) {
	acct, err := account(ctx)
	if err != nil {
		return nil, problem(ctx, h.log, "list-order-events", "header", err)
	}
	id, err := domain.ParseID(in.ID)
	if err != nil {
		return nil, problem(ctx, h.log, "list-order-events", "path", err)
	}
	evs, err := h.svc.OrderEvents(ctx, acct, id)
	if err != nil {
		return nil, problem(ctx, h.log, "list-order-events", "path", err)
	}
	out := &ListOrderEventsOutput{Body: EventList{Events: make([]Event, len(evs))}}
	for i, e := range evs {
		out.Body.Events[i] = toEvent(e)
	}
	return out, nil
}
