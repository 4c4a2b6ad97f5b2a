package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Register lists every operation of the API.
func Register(api huma.API, svc Service, health Health, log *slog.Logger) {
	h := &handlers{svc: svc, log: log}
	huma.Register(api, huma.Operation{
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
	}, h.placeOrder)

	huma.Register(api, huma.Operation{
		OperationID: "get-order",
		Method:      http.MethodGet,
		Path:        "/orders/{id}",
		Summary:     "Get an order",
		Description: "Returns the order with its placement state.",
		Tags:        []string{"orders"},
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, h.getOrder)

	huma.Register(api, huma.Operation{
		OperationID: "list-orders",
		Method:      http.MethodGet,
		Path:        "/orders",
		Summary:     "List orders",
		Description: "Orders newest first, keyset-paginated: pass next_cursor as cursor for the next page.",
		Tags:        []string{"orders"},
		Errors:      []int{http.StatusUnprocessableEntity},
	}, h.listOrders)

	registerOps(api, health, log)
	documentExamples(api, internalResponses(api))
}

func registerOps(api huma.API, health Health, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "healthz",
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Liveness",
		Description: "200 while the process runs.",
		Tags:        []string{"operations"},
	}, func(ctx context.Context, _ *struct{}) (*StatusOutput, error) {
		return &StatusOutput{Body: Status{Status: "ok"}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "readyz",
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Readiness",
		Description: "200 when the database answers, 503 otherwise. Also reports the exchange circuit breaker's state; an open circuit does not make the instance unready.",
		Tags:        []string{"operations"},
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
