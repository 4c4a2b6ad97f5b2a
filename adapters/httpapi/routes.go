package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/sse"
)

// Register lists every operation of the API. The order operations need an
// API key that auth knows (Authorization: Bearer <key>) and act for its
// account; WithRateLimit among opts limits each key's requests. The
// health operations need no key.
func Register(api huma.API, svc Service, auth Authenticator, health Health, log *slog.Logger, opts ...Option) {
	o := newOptions(opts)
	h := &handlers{
		svc: svc, auth: auth, log: log, limits: newLimiters(o.perSecond, o.burst),
		streamer: o.streamer, keepAlive: o.keepAlive, shutdown: o.shutdown,
	}
	registerSecurity(api)
	orders := func(op huma.Operation) huma.Operation { return h.authenticated(api, op) }

	huma.Register(api, orders(huma.Operation{
		OperationID: "place-order",
		Method:      http.MethodPost,
		Path:        "/orders",
		Summary:     "Place an order",
		Description: "Validates the order, then stores it and its placement job in one transaction. 201 means both are committed and placement at the exchange is guaranteed; the exchange is never called while the request waits.\n\n" +
			"With an Idempotency-Key header, repeating the request with the same key and body returns the order created the first time (201, Idempotent-Replayed: true) and creates nothing, also when the requests race; the same key with a different body is rejected with 422. Keys are kept at least 24 hours. " +
			"Send one with every order you might retry: a request that got no answer, or a 500 while the database was unreachable, may have stored the order, and only the key makes the retry safe. This operation never answers 409.",
		Tags:          []string{"orders"},
		DefaultStatus: http.StatusCreated,
		// Huma rejects a body of exactly MaxBodyBytes; one more byte of
		// room accepts bodies up to 64 KiB and rejects anything larger.
		MaxBodyBytes: MaxBodyBytes + 1,
		Errors:       []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity},
	}), h.placeOrder)

	huma.Register(api, orders(huma.Operation{
		OperationID: "get-order",
		Method:      http.MethodGet,
		Path:        "/orders/{id}",
		Summary:     "Get an order",
		Description: "Returns the order: its status, how much of it is filled and at what average price, and its placement state.",
		Tags:        []string{"orders"},
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}), h.getOrder)

	huma.Register(api, orders(huma.Operation{
		OperationID: "cancel-order",
		Method:      http.MethodDelete,
		Path:        "/orders/{id}",
		Summary:     "Cancel an order",
		Description: "Asks to cancel the order's unfilled rest. 202 with the order when the cancel is accepted: its status is pending_cancel until the exchange confirms, or already canceled when the order never reached the exchange (then no exchange call is made, and none ever will be). " +
			"Asking again while the order is pending_cancel or canceled answers 202 again and changes nothing. A filled, expired or rejected order cannot be canceled: 409, naming its status.\n\n" +
			"The cancel request goes to the exchange through the same outbox as placement: it is guaranteed and retried, and sent only after the exchange acknowledged the placement. " +
			"Cancel and fill race at a real exchange: a fill that arrives after the cancel request still counts, so a pending_cancel order may still fill, partly or completely, and end filled; a canceled order's filled_quantity may be above 0. " +
			"Follow the order with get-order to see how it ends.",
		Tags:          []string{"orders"},
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}), h.cancelOrder)

	huma.Register(api, orders(huma.Operation{
		OperationID: "list-fills",
		Method:      http.MethodGet,
		Path:        "/orders/{id}/fills",
		Summary:     "List an order's fills",
		Description: "The order's executions at the exchange, oldest first, each with the exchange's exec_id, the quantity, the exact price and the time. " +
			"The order's filled_quantity is their sum and its average_fill_price their quantity-weighted mean. A fill that arrived after a cancel request is here too: it counts.",
		Tags:   []string{"orders"},
		Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}), h.listFills)

	huma.Register(api, orders(huma.Operation{
		OperationID: "list-orders",
		Method:      http.MethodGet,
		Path:        "/orders",
		Summary:     "List orders",
		Description: "Orders newest first, keyset-paginated: pass next_cursor as cursor for the next page.",
		Tags:        []string{"orders"},
		Errors:      []int{http.StatusUnprocessableEntity},
	}), h.listOrders)

	huma.Register(api, orders(huma.Operation{
		OperationID: "list-order-events",
		Method:      http.MethodGet,
		Path:        "/orders/{id}/events",
		Summary:     "List an order's events",
		Description: "Every change of the order, oldest first, each as the event object that GET /events streams and webhooks deliver: its event_id, type, occurred_at, the order as it was after the change, and the fill that caused it (or null).",
		Tags:        []string{"orders"},
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}), h.listOrderEvents)

	stream := orders(huma.Operation{
		OperationID: "stream-events",
		Method:      http.MethodGet,
		Path:        "/events",
		Summary:     "Stream the account's order events",
		Description: "Server-sent events (text/event-stream): every change of an order of the account, as it is committed, in event-ID order, each once. " +
			"Each message has id: the event ID, event: the event type, and data: the event object (the same object webhooks deliver and list-order-events lists). " +
			"Events are written in the same transaction as the change they describe: the stream never shows a change that was rolled back and never misses one that was committed.\n\n" +
			"Resume with the Last-Event-ID header (browsers' EventSource sends it when it reconnects) or ?after=ID: the stream sends every later event of the account, then stays open with new ones. " +
			"A client that reconnects with the last ID it saw loses nothing and sees nothing twice. Without either, the stream starts with the oldest event kept. " +
			"Events are kept at least 7 days; resuming from an older ID answers 410 before any event: read the orders' state with list-orders and open the stream again without a resume point.\n\n" +
			"An idle stream sends a comment line (: keep-alive) at least every 15 seconds. A client too slow to keep up is disconnected rather than waited for; it resumes with Last-Event-ID and loses nothing. " +
			"The stream carries only the account of the API key: never another account's events.",
		Tags:   []string{"events"},
		Errors: []int{http.StatusBadRequest, http.StatusGone, http.StatusServiceUnavailable},
	})
	stream.Middlewares = append(stream.Middlewares, h.subscribe(api))
	sse.Register(api, stream, streamEventTypes(), h.streamEvents)
	// Huma lists 422 for any operation with parameters, but the resume
	// point is checked, with 400, before Huma reads it.
	if item := api.OpenAPI().Paths[stream.Path]; item != nil && item.Get != nil {
		delete(item.Get.Responses, "422")
		item.Get.Responses["200"].Description = "The stream: an SSE message per event, comments (lines starting with a colon) to be ignored. On the wire:\n\n```\n" + exampleStream() + "```"
	}

	huma.Register(api, orders(huma.Operation{
		OperationID: "create-webhook",
		Method:      http.MethodPost,
		Path:        "/webhooks",
		Summary:     "Register a webhook endpoint",
		Description: "Registers an endpoint for the account's events and answers with its secret, shown this once. " +
			"Every event of the account committed from then on is POSTed to the URL as the same JSON object as the stream's data, signed as the Standard Webhooks specification says: " +
			"headers webhook-id (the event ID), webhook-timestamp (Unix seconds) and webhook-signature (v1, and the base64 of the HMAC-SHA256 of id.timestamp.body, keyed with the secret's bytes). " +
			"Delivery is at least once, so deduplicate by webhook-id: a 2xx answer within 10 seconds delivers; anything else is retried with exponential backoff and jitter for at least 24 hours; 410 disables the endpoint. " +
			"A slow or failing endpoint delays no other endpoint and never order intake.\n\n" +
			"Only http and https URLs. Endpoints whose host resolves to a loopback, private or link-local address are refused (422 naming url), when registering and again when delivering, unless the server runs with --webhook-allow-private.",
		Tags:          []string{"webhooks"},
		DefaultStatus: http.StatusCreated,
		MaxBodyBytes:  MaxBodyBytes + 1,
		Errors:        []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}), h.createWebhook)

	huma.Register(api, orders(huma.Operation{
		OperationID: "list-webhooks",
		Method:      http.MethodGet,
		Path:        "/webhooks",
		Summary:     "List webhook endpoints",
		Description: "The account's endpoints, oldest first, without their secrets; an endpoint that answered 410 shows when it was disabled.",
		Tags:        []string{"webhooks"},
		Errors:      []int{http.StatusServiceUnavailable},
	}), h.listWebhooks)

	huma.Register(api, orders(huma.Operation{
		OperationID:   "delete-webhook",
		Method:        http.MethodDelete,
		Path:          "/webhooks/{id}",
		Summary:       "Remove a webhook endpoint",
		Description:   "Removes the endpoint and its pending deliveries: 204. An unknown ID, or another account's, answers 404.",
		Tags:          []string{"webhooks"},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}), h.deleteWebhook)

	registerOps(api, health, log)
	documentExamples(api, internalResponses(api))
}

// noKey is the security of the operations that need no API key: none,
// written out so that the document says so rather than leaves it open.
var noKey = []map[string][]string{}

func registerOps(api huma.API, health Health, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "healthz",
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Liveness",
		Description: "200 while the process runs. Needs no API key.",
		Tags:        []string{"operations"},
		Security:    noKey,
	}, func(ctx context.Context, _ *struct{}) (*StatusOutput, error) {
		return &StatusOutput{Body: Status{Status: "ok"}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "readyz",
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Readiness",
		Description: "200 when the database answers, 503 otherwise. Also reports the exchange circuit breaker's state; an open circuit does not make the instance unready. Needs no API key.",
		Tags:        []string{"operations"},
		Security:    noKey,
		Errors:      []int{http.StatusServiceUnavailable},
	}, func(ctx context.Context, _ *struct{}) (*StatusOutput, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := health.DB.Ping(ctx); err != nil {
			log.WarnContext(ctx, "not ready: database does not answer", "err", err)
			return nil, huma.Error503ServiceUnavailable("database unavailable")
		}
		out := &StatusOutput{Body: Status{Status: "ok"}}
		if health.Exchange != nil {
			out.Body.Exchange = health.Exchange.State()
		}
		return out, nil
	})
}
