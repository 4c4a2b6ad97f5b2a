package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// PlaceOrderInput is the request of place-order.
type PlaceOrderInput struct {
	IdempotencyKey string `header:"Idempotency-Key" minLength:"1" maxLength:"255" doc:"Optional client key, 1 to 255 visible ASCII characters, that makes retrying this request safe: a repeat returns the first result instead of placing a second order." example:"5f1c2a7e-order-42"`
	Body           OrderRequest
}

// PlaceOrderOutput is the 201 answer of place-order.
type PlaceOrderOutput struct {
	Location string `header:"Location" doc:"Path of the new order." example:"/orders/0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"`
	Replayed string `header:"Idempotent-Replayed" doc:"true when this answer replays the order first created with the same Idempotency-Key; absent otherwise." example:"true"`
	Body     Order
}

// GetOrderInput is the request of get-order.
type GetOrderInput struct {
	ID string `path:"id" doc:"Order ID (UUID)." example:"0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"`
}

// GetOrderOutput is the answer of get-order.
type GetOrderOutput struct {
	Body Order
}

// CancelOrderInput is the request of cancel-order.
type CancelOrderInput struct {
	ID string `path:"id" doc:"ID (UUID) of the order to cancel." example:"0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"`
}

// CancelOrderOutput is the 202 answer of cancel-order.
type CancelOrderOutput struct {
	Body Order
}

// ListFillsInput is the request of list-fills.
type ListFillsInput struct {
	ID string `path:"id" doc:"Order ID (UUID)." example:"0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"`
}

// ListFillsOutput is the answer of list-fills.
type ListFillsOutput struct {
	Body FillList
}

// ListOrdersInput is the request of list-orders.
type ListOrdersInput struct {
	Limit  int         `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"Most orders to return." example:"50"`
	Status OrderStatus `query:"status" doc:"Only orders with this status." example:"pending"`
	Cursor string      `query:"cursor" doc:"Opaque cursor from the previous page's next_cursor." example:"djE6MDE5M2E1YzItN2QxZS03YzNhLTliMmYtMWY2ZjBlMmE4YzEx"`
}

// ListOrdersOutput is the answer of list-orders.
type ListOrdersOutput struct {
	Body OrderList
}

type handlers struct {
	svc       Service
	auth      Authenticator
	log       *slog.Logger
	limits    *limiters // nil: no rate limit
	streamer  Streamer  // nil: no event stream
	keepAlive time.Duration
	shutdown  <-chan struct{} // nil: streams end only with their clients or hub
}

func (h *handlers) placeOrder(ctx context.Context, in *PlaceOrderInput) (*PlaceOrderOutput, error) {
	acct, err := account(ctx)
	if err != nil {
		return nil, problem(ctx, h.log, "place-order", "header", err)
	}
	spec, err := in.Body.spec()
	if err != nil {
		return nil, problem(ctx, h.log, "place-order", "body", err)
	}
	if in.IdempotencyKey == "" {
		o, err := h.svc.PlaceOrder(ctx, acct, spec)
		if err != nil {
			return nil, problem(ctx, h.log, "place-order", "body", err)
		}
		return &PlaceOrderOutput{Location: "/orders/" + o.ID.String(), Body: toOrder(o)}, nil
	}
	key, err := domain.ParseIdempotencyKey(in.IdempotencyKey)
	if err != nil {
		return nil, problem(ctx, h.log, "place-order", "header", err)
	}
	o, replayed, err := h.svc.PlaceOrderOnce(ctx, acct, key, spec)
	if err != nil {
		return nil, problem(ctx, h.log, "place-order", "body", err)
	}
	out := &PlaceOrderOutput{Location: "/orders/" + o.ID.String(), Body: toOrder(o)}
	if replayed {
		out.Replayed = "true"
	}
	return out, nil
}

// spec turns the checked JSON into a domain.Spec, reading the exact number
// texts Huma's float-based validation cannot judge.
func (r OrderRequest) spec() (domain.Spec, error) {
	var errs domain.ValidationErrors
	spec := domain.Spec{Type: domain.Type(r.Type), Side: domain.Side(r.Side), Instrument: r.Instrument}
	q, ok := r.Quantity.Int64()
	if !ok {
		errs = append(errs, &domain.ValidationError{Field: "quantity", Reason: "must be a whole number written without a fraction or exponent, like 10"})
	}
	spec.Quantity = q
	if r.LimitPrice != nil && !r.LimitPrice.null {
		p, err := domain.ParsePrice(r.LimitPrice.text)
		var verr *domain.ValidationError
		switch {
		case errors.As(err, &verr):
			errs = append(errs, verr)
		case err != nil:
			errs = append(errs, &domain.ValidationError{Field: "limit_price", Reason: err.Error()})
		default:
			spec.LimitPrice = &p
		}
	}
	if len(errs) > 0 {
		// Report the domain's verdict on the other fields too, so the client
		// learns every problem at once.
		if _, err := domain.New(domain.ID{}, time.Time{}, spec); err != nil {
			var more domain.ValidationErrors
			if errors.As(err, &more) {
				for _, e := range more {
					if !hasField(errs, e.Field) {
						errs = append(errs, e)
					}
				}
			}
		}
		return domain.Spec{}, errs
	}
	return spec, nil
}

func hasField(errs domain.ValidationErrors, field string) bool {
	for _, e := range errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

func (h *handlers) getOrder(ctx context.Context, in *GetOrderInput) (*GetOrderOutput, error) {
	acct, err := account(ctx)
	if err != nil {
		return nil, problem(ctx, h.log, "get-order", "header", err)
	}
	id, err := domain.ParseID(in.ID)
	if err != nil {
		return nil, problem(ctx, h.log, "get-order", "path", err)
	}
	o, err := h.svc.Order(ctx, acct, id)
	if err != nil {
		return nil, problem(ctx, h.log, "get-order", "path", err)
	}
	return &GetOrderOutput{Body: toOrder(o)}, nil
}

func (h *handlers) cancelOrder(ctx context.Context, in *CancelOrderInput) (*CancelOrderOutput, error) {
	acct, err := account(ctx)
	if err != nil {
		return nil, problem(ctx, h.log, "cancel-order", "header", err)
	}
	id, err := domain.ParseID(in.ID)
	if err != nil {
		return nil, problem(ctx, h.log, "cancel-order", "path", err)
	}
	o, err := h.svc.CancelOrder(ctx, acct, id)
	if errors.Is(err, domain.ErrTransition) {
		// The refusal does not carry the order: read it to name its status,
		// if the lifecycle still refuses a cancel in that status (it may
		// have changed in between, though an ended order hardly ever does).
		if cur, rerr := h.svc.Order(ctx, acct, id); rerr == nil {
			if _, _, again := domain.RequestCancel(cur, true, cur.UpdatedAt); errors.Is(again, domain.ErrTransition) {
				err = &refusal{status: cur.Status, err: err}
			}
		}
	}
	if err != nil {
		return nil, problem(ctx, h.log, "cancel-order", "path", err)
	}
	return &CancelOrderOutput{Body: toOrder(o)}, nil
}

func (h *handlers) listFills(ctx context.Context, in *ListFillsInput) (*ListFillsOutput, error) {
	acct, err := account(ctx)
	if err != nil {
		return nil, problem(ctx, h.log, "list-fills", "header", err)
	}
	id, err := domain.ParseID(in.ID)
	if err != nil {
		return nil, problem(ctx, h.log, "list-fills", "path", err)
	}
	o, err := h.svc.Order(ctx, acct, id)
	if err != nil {
		return nil, problem(ctx, h.log, "list-fills", "path", err)
	}
	return &ListFillsOutput{Body: toFills(o.Fills)}, nil
}

func (h *handlers) listOrders(ctx context.Context, in *ListOrdersInput) (*ListOrdersOutput, error) {
	acct, err := account(ctx)
	if err != nil {
		return nil, problem(ctx, h.log, "list-orders", "header", err)
	}
	q := ports.ListQuery{Limit: in.Limit, Status: domain.Status(in.Status)}
	if in.Cursor != "" {
		id, err := decodeCursor(in.Cursor)
		if err != nil {
			return nil, problem(ctx, h.log, "list-orders", "query", err)
		}
		q.Before = id
	}
	page, err := h.svc.ListOrders(ctx, acct, q)
	if err != nil {
		return nil, problem(ctx, h.log, "list-orders", "query", err)
	}
	out := &ListOrdersOutput{Body: OrderList{Orders: make([]Order, len(page.Orders))}}
	for i, o := range page.Orders {
		out.Body.Orders[i] = toOrder(o)
	}
	if !page.Next.IsZero() {
		c := encodeCursor(page.Next)
		out.Body.NextCursor = &c
	}
	return out, nil
}
