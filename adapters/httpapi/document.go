package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// registerSecurity adds the bearer scheme, by which the order operations
// take an API key, to the document.
func registerSecurity(api huma.API) {
	oas := api.OpenAPI()
	if oas.Components.SecuritySchemes == nil {
		oas.Components.SecuritySchemes = map[string]*huma.SecurityScheme{}
	}
	oas.Components.SecuritySchemes[SecurityScheme] = &huma.SecurityScheme{ //nolint:gosec // G101: the scheme's description, no credential
		Type:         "http",
		Scheme:       "bearer",
		BearerFormat: "og_ followed by 43 base64url characters",
		Description: "An API key, sent with every order, event and webhook request as Authorization: Bearer <key>: the scheme in any case, one space, then the key exactly as it was shown. " +
			"A key belongs to one account, and a request sees, lists and cancels only that account's orders, streams only its events and manages only its webhooks; another account's order or webhook answers 404, exactly as an unknown one. " +
			"Create a key with `ordergate keys create --account NAME`, which prints it; a fresh database also prints one key, for the account default, on its first start. " +
			"A key is shown once, when it is created, and stored only as a hash: keep it, it cannot be shown again. List keys with `ordergate keys list` and revoke one with `ordergate keys revoke KEY_ID`. " +
			"A missing, malformed, unknown or revoked key gets 401 with WWW-Authenticate: Bearer. Each key may be rate-limited (the server's --rate-limit): over its limit a request gets 429 with Retry-After.",
	}
}

// documentAuth describes the 401 and 429 answers of the operations that
// need an API key, with the headers that come with them.
func documentAuth(op *huma.Operation) {
	if len(op.Security) == 0 {
		return
	}
	str := func(desc string, ex string) *huma.Param {
		return &huma.Param{Description: desc, Schema: &huma.Schema{Type: huma.TypeString, Examples: []any{ex}}}
	}
	if r, ok := op.Responses["401"]; ok {
		r.Description = "No valid API key: the Authorization header is missing, is not Bearer, one space and a key, or carries a key that is malformed, unknown or revoked. " +
			"Nothing was done. The problem's detail says which, and never repeats the key."
		r.Headers = map[string]*huma.Param{"WWW-Authenticate": str(
			`The Bearer challenge (RFC 6750): realm="`+Realm+`", and error="invalid_token" when a key was sent but is not valid.`,
			`Bearer realm="`+Realm+`", error="invalid_token"`)}
	}
	if r, ok := op.Responses["429"]; ok {
		retry := "Whole seconds, at least 1, until the key may send another request."
		r.Description = "The API key is over its rate limit: the request was not served. Retry after Retry-After seconds."
		r.Headers = map[string]*huma.Param{"Retry-After": {
			Description: retry,
			Schema:      &huma.Schema{Type: huma.TypeInteger, Minimum: float(1), Examples: []any{1}},
		}}
	}
}

// internalResponses returns the 500 response of the order operations by
// operation ID, "" for those not named: the contract's body, never Huma's
// problem document.
func internalResponses(api huma.API) map[string]*huma.Response {
	internal := func(description string) *huma.Response {
		return &huma.Response{
			Description: description,
			Content: map[string]*huma.MediaType{"application/json": {
				Schema:  api.OpenAPI().Components.Schemas.Schema(typeOf[InternalError](), true, "InternalError"),
				Example: InternalError{Message: InternalMessage},
			}},
		}
	}
	return map[string]*huma.Response{
		"": internal("Internal error: the cause is logged, never sent. Nothing was half-written."),
		"place-order": internal("Internal error: the cause is logged, never sent. Nothing was half-written. " +
			"When the answer to the database's commit is lost, ordergate reads the order back and answers 201 if it is stored; " +
			"only while the database stays unreachable can a 500 stand for an order that is stored (and will be placed). " +
			"Retry with the same Idempotency-Key: the retry answers with that order if it exists, and creates it once if it does not."),
	}

}

// documentExamples gives the error schemas Huma ships, and the responses
// that use them, the examples the document promises for every field. It
// also puts back the 500 response of the order operations: Huma documents
// its own problem body for 500 whenever an operation lists errors, but the
// contract's 500 body is InternalError. internals holds that response by
// operation ID, "" for the operations not named.
func documentExamples(api huma.API, internals map[string]*huma.Response) {
	oas := api.OpenAPI()
	schemas := oas.Components.Schemas.Map()
	detail := &huma.ErrorDetail{Location: "body.quantity", Message: "expected number >= 1", Value: 0}
	if d, ok := schemas["ErrorDetail"]; ok {
		for name, ex := range map[string]any{"location": detail.Location, "message": detail.Message, "value": detail.Value} {
			if p, ok := d.Properties[name]; ok && len(p.Examples) == 0 {
				p.Examples = []any{ex}
			}
		}
	}
	if m, ok := schemas["ErrorModel"]; ok {
		if p, ok := m.Properties["errors"]; ok && len(p.Examples) == 0 {
			p.Examples = []any{[]*huma.ErrorDetail{detail}}
		}
	}
	invalid := func(loc, msg string, value any) huma.ErrorModel {
		return huma.ErrorModel{
			Title: "Unprocessable Entity", Status: http.StatusUnprocessableEntity, Detail: "validation failed",
			Errors: []*huma.ErrorDetail{{Location: loc, Message: msg, Value: value}},
		}
	}
	badID := invalid("path.id", "must be a UUID like 0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11", nil)
	example := toOrder(exampleOrder())
	canceling := exampleOrder()
	canceling.Status, canceling.UpdatedAt = domain.PendingCancel, canceling.UpdatedAt.Add(480*time.Millisecond)
	cursor := encodeCursor(exampleOrder().ID)
	fills := toFills(exampleOrder().Fills)
	event := toEvent(exampleEvent())
	hook := exampleWebhook()
	for _, ex := range []struct {
		schema, field string
		value         any
	}{
		{"OrderList", "orders", []Order{example}}, {"FillList", "fills", fills.Fills},
		{"EventList", "events", []Event{event}}, {"WebhookList", "webhooks", []Webhook{toWebhook(hook)}},
		{"Event", "order", example}, {"Event", "fill", event.Fill},
	} {
		if l, ok := schemas[ex.schema]; ok {
			if p, ok := l.Properties[ex.field]; ok && len(p.Examples) == 0 {
				p.Examples = []any{ex.value}
			}
		}
	}
	// Bodies by operation and status code, then problems by status code
	// for the rest.
	noEvents := huma.ErrorModel{Title: "Service Unavailable", Status: http.StatusServiceUnavailable, Detail: noEventsDetail}
	bodies := map[string]any{
		"list-order-events 200": EventList{Events: []Event{event}},
		"list-order-events 422": badID,
		"list-order-events 503": noEvents,
		"stream-events 200":     []map[string]any{{"id": int64(event.EventID), "event": string(event.Type), "data": event}},
		"stream-events 400": huma.ErrorModel{
			Title: "Bad Request", Status: http.StatusBadRequest, Detail: "validation failed",
			Errors: []*huma.ErrorDetail{{Location: "header.Last-Event-ID", Message: "must be an event ID: a non-negative integer like 1041"}},
		},
		"stream-events 503":  noEvents,
		"create-webhook 201": NewWebhook{ID: string(hook.ID), URL: hook.URL, Secret: hook.Secret, CreatedAt: Timestamp(hook.CreatedAt)},
		"create-webhook 422": invalid("body.url", "resolves to a private address: deliveries may go only to public addresses", nil),
		"create-webhook 503": noEvents,
		"list-webhooks 200":  WebhookList{Webhooks: []Webhook{toWebhook(hook)}},
		"list-webhooks 503":  noEvents,
		"delete-webhook 404": huma.ErrorModel{Title: "Not Found", Status: http.StatusNotFound, Detail: "webhook not found"},
		"delete-webhook 503": noEvents,
		"place-order 201":    toOrder(exampleNewOrder()),
		"get-order 200":      example,
		"get-order 422":      badID,
		"list-orders 200":    OrderList{Orders: []Order{example}, NextCursor: &cursor},
		"list-orders 422":    invalid("query.limit", "expected number <= 500", nil),
		"cancel-order 202":   toOrder(canceling),
		"cancel-order 422":   badID,
		"list-fills 200":     fills,
		"list-fills 422":     badID,
		"healthz 200":        Status{Status: "ok"},
		"readyz 200":         Status{Status: "ok", Exchange: ports.GateClosed},
	}
	problems := map[string]huma.ErrorModel{
		"400": {Title: "Bad Request", Status: http.StatusBadRequest, Detail: "validation failed",
			Errors: []*huma.ErrorDetail{{Location: "body", Message: "invalid JSON: the body ends before the value does"}}},
		"404": {Title: "Not Found", Status: http.StatusNotFound, Detail: "order not found"},
		"410": {Title: "Gone", Status: http.StatusGone, Detail: goneDetail},
		"409": {Title: "Conflict", Status: http.StatusConflict, Detail: conflictDetail(domain.Filled)},
		"413": {Title: "Request Entity Too Large", Status: http.StatusRequestEntityTooLarge, Detail: "request body is too large limit=65537 bytes"},
		"415": {Title: "Unsupported Media Type", Status: http.StatusUnsupportedMediaType, Detail: "validation failed",
			Errors: []*huma.ErrorDetail{{Location: "body", Message: "unknown content type: text/plain"}}},
		"401": {Title: "Unauthorized", Status: http.StatusUnauthorized, Detail: "the API key is malformed, unknown or revoked"},
		"422": invalid(detail.Location, detail.Message, detail.Value),
		"429": {Title: "Too Many Requests", Status: http.StatusTooManyRequests, Detail: (&rateLimited{retryAfter: time.Second, perSecond: 1000, burst: 2000}).Error()},
		"503": {Title: "Service Unavailable", Status: http.StatusServiceUnavailable, Detail: "database unavailable"},
	}
	for _, item := range oas.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Delete} {
			if op == nil {
				continue
			}
			documentAuth(op)
			if _, ok := op.Responses["500"]; ok && len(op.Security) > 0 {
				r, ok := internals[op.OperationID]
				if !ok {
					r = internals[""]
				}
				op.Responses["500"] = r
			}
			for code, r := range op.Responses {
				for _, mt := range r.Content {
					if mt.Example != nil {
						continue
					}
					if b, ok := bodies[op.OperationID+" "+code]; ok {
						mt.Example = b
					} else if p, ok := problems[code]; ok {
						mt.Example = p
					}
				}
			}
		}
	}
}

// exampleOrder is the order the document shows, the contract's example: a
// limit buy of 10, 4 of them filled in three executions at an average of
// 100.00. The document writes it as the API would.
func exampleOrder() domain.Order {
	at := func(sec, micro int) time.Time { return time.Date(2026, 11, 24, 10, 15, sec, micro*1000, time.UTC) }
	id, err := domain.ParseID("0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11")
	if err != nil {
		panic(err)
	}
	limit := domain.Price(123_45)
	return domain.Order{
		ID:         id,
		CreatedAt:  at(30, 123456),
		UpdatedAt:  at(31, 20000),
		Type:       domain.Limit,
		Side:       domain.Buy,
		Instrument: "US0378331005",
		LimitPrice: &limit,
		Quantity:   10,
		Status:     domain.PartiallyFilled,
		Fills: []domain.Fill{
			{ExecID: "s1-17", Quantity: 1, Price: 99_99, ExecutedAt: at(30, 910000)},
			{ExecID: "s1-18", Quantity: 2, Price: 100_00, ExecutedAt: at(30, 960000)},
			{ExecID: "s1-19", Quantity: 1, Price: 100_01, ExecutedAt: at(31, 20000)},
		},
		PlacementAttempts: 1,
		PlacedAt:          at(30, 654321),
	}
}

// exampleNewOrder is exampleOrder as place-order answers it: pending,
// nothing filled, not yet placed.
func exampleNewOrder() domain.Order {
	o := exampleOrder()
	o.UpdatedAt, o.Status, o.Fills, o.PlacementAttempts, o.PlacedAt = o.CreatedAt, domain.Pending, nil, 0, time.Time{}
	return o
}

// exampleEvent is the event the document shows: the fill that brought
// exampleOrder to where it is.
func exampleEvent() domain.OrderEvent {
	o := exampleOrder()
	f := o.Fills[len(o.Fills)-1]
	e := domain.NewOrderEvent(domain.EventPartiallyFilled, o, &f)
	e.ID, e.Account, e.OccurredAt = 1042, "default", o.UpdatedAt
	return e
}

// exampleWebhook is the endpoint the document shows.
func exampleWebhook() domain.Webhook {
	return domain.Webhook{ //nolint:gosec // G101: the document's example secret, no credential
		ID: "wh_8f3a1c0e5b7d2a94", Account: "default", URL: "https://example.com/ordergate/events",
		Secret:    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		CreatedAt: time.Date(2026, 11, 24, 10, 15, 30, 123456000, time.UTC),
	}
}

// exampleStream is a stream as GET /events writes it, for the 200
// answer's description: a comment when it opens, one event, and a
// keep-alive comment. (The media type's example is the same event in the
// shape of the sse package's schema, an array of messages.)
func exampleStream() string {
	e := exampleEvent()
	b, err := EventJSON(e)
	if err != nil {
		panic(err)
	}
	return ": stream open\n\nid: " + strconv.FormatInt(int64(e.ID), 10) + "\nevent: " + string(e.Type) + "\ndata: " + string(b) + "\n\n: keep-alive\n\n"
}
