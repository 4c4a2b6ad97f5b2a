package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// Version is the API version in the OpenAPI document.
const Version = "1.0.0"

// MaxBodyBytes is the largest request body accepted; larger ones get 413.
const MaxBodyBytes = 64 << 10

// Service is what the HTTP API needs from the core; *app.Service has it.
type Service interface {
	PlaceOrder(ctx context.Context, spec domain.Spec) (domain.Order, error)
	PlaceOrderOnce(ctx context.Context, key domain.IdempotencyKey, spec domain.Spec) (domain.Order, bool, error)
	Order(ctx context.Context, id domain.ID) (domain.Order, error)
	ListOrders(ctx context.Context, q ports.ListQuery) (app.Page, error)
}

// Pinger reports whether the database answers, for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Health is what the health endpoints report on.
type Health struct {
	// DB must answer for the instance to be ready.
	DB Pinger
	// Exchange, if set, names the state of the exchange circuit breaker
	// ("closed", "half-open", "open") in /readyz. An open circuit does not
	// make the instance unready: orders are still accepted.
	Exchange func() string
}

// NewAPI returns a Huma API on mux serving the OpenAPI document at
// /openapi.json and /openapi.yaml, and docs at /docs rendered on the server
// (no script from a CDN). It leaves out Huma's $schema links: the bodies
// are exactly what the contract lists.
func NewAPI(mux *http.ServeMux) huma.API {
	overrideNewError()
	cfg := huma.DefaultConfig("ordergate", Version)
	cfg.CreateHooks = nil // no $schema field, no Link header
	cfg.DocsPath = ""     // Huma's page loads its renderer from unpkg.com; docs.go serves one that does not
	cfg.Formats = map[string]huma.Format{"application/json": jsonFormat, "json": jsonFormat}
	cfg.Info.License = &huma.License{Name: "MIT", Identifier: "MIT"}
	cfg.Servers = []*huma.Server{{URL: "http://127.0.0.1:8080", Description: "A local instance started with make run"}}
	cfg.Info.Description = "Accepts stock orders, stores each one durably, and guarantees every stored order is placed at the exchange. " +
		"A 201 means the order and its placement job are committed; placement is retried until the exchange acknowledges it."
	api := humago.New(mux, cfg)
	mux.Handle("GET /docs", docsHandler(api))
	return api
}

// Handler returns the whole HTTP API: every operation, with panics answered
// by the contract's 500 body and one access log line per request.
func Handler(svc Service, h Health, log *slog.Logger, opts ...Option) http.Handler {
	mux := http.NewServeMux()
	Register(NewAPI(mux), svc, h, log)
	return wrap(mux, log, opts)
}

// OpsHandler returns only the health, metrics and docs endpoints, for an
// instance that runs the dispatcher and no order API.
func OpsHandler(h Health, log *slog.Logger, opts ...Option) http.Handler {
	mux := http.NewServeMux()
	api := NewAPI(mux)
	registerOps(api, h, log)
	return wrap(mux, log, opts)
}

// wrap adds /metrics (if asked for), panic recovery, request IDs and the
// access log around mux.
func wrap(mux *http.ServeMux, log *slog.Logger, opts []Option) http.Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.metrics != nil {
		mux.Handle("GET /metrics", o.metrics)
	}
	return accessLog(Recover(mux, log), log, o.observer)
}

// OpenAPI returns the OpenAPI document as YAML, byte for byte what the
// server serves at /openapi.yaml.
func OpenAPI() ([]byte, error) {
	api := NewAPI(http.NewServeMux())
	Register(api, nil, Health{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return api.OpenAPI().YAML()
}

// Register lists every operation of the API.
func Register(api huma.API, svc Service, health Health, log *slog.Logger) {
	h := &handlers{svc: svc, log: log}
	internal := func(description string) *huma.Response {
		return &huma.Response{
			Description: description,
			Content: map[string]*huma.MediaType{"application/json": {
				Schema:  api.OpenAPI().Components.Schemas.Schema(typeOf[InternalError](), true, "InternalError"),
				Example: InternalError{Message: InternalMessage},
			}},
		}
	}
	internals := map[string]*huma.Response{
		"": internal("Internal error: the cause is logged, never sent. Nothing was half-written."),
		"place-order": internal("Internal error: the cause is logged, never sent. Nothing was half-written. " +
			"When the answer to the database's commit is lost, ordergate reads the order back and answers 201 if it is stored; " +
			"only while the database stays unreachable can a 500 stand for an order that is stored (and will be placed). " +
			"Retry with the same Idempotency-Key: the retry answers with that order if it exists, and creates it once if it does not."),
	}

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
	documentExamples(api, internals)
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
	invalid := huma.ErrorModel{
		Title:  "Unprocessable Entity",
		Status: http.StatusUnprocessableEntity,
		Detail: "validation failed",
		Errors: []*huma.ErrorDetail{detail},
	}
	example := Order{
		ID: "0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11", CreatedAt: Timestamp(time.Date(2026, 11, 24, 10, 15, 30, 123456000, time.UTC)),
		Type: "limit", Side: "buy", Instrument: "US0378331005", Quantity: 10, Status: "pending",
	}
	price := Money(12345)
	example.LimitPrice = &price
	if l, ok := schemas["OrderList"]; ok {
		if p, ok := l.Properties["orders"]; ok && len(p.Examples) == 0 {
			p.Examples = []any{[]Order{example}}
		}
	}
	for _, item := range oas.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post} {
			if op == nil {
				continue
			}
			if _, ok := op.Responses["500"]; ok && slices.Contains(op.Tags, "orders") {
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
					switch {
					case code == "422":
						mt.Example = invalid
					case op.OperationID == "place-order" && code == "201", op.OperationID == "get-order" && code == "200":
						mt.Example = example
					}
				}
			}
		}
	}
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
			out.Body.Exchange = health.Exchange()
		}
		return out, nil
	})
}

// StatusOutput is the answer of the health endpoints.
type StatusOutput struct {
	Body Status
}

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

// ListOrdersInput is the request of list-orders.
type ListOrdersInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"Most orders to return." example:"50"`
	Status string `query:"status" enum:"pending,placed,rejected" doc:"Only orders with this status." example:"pending"`
	Cursor string `query:"cursor" doc:"Opaque cursor from the previous page's next_cursor." example:"djE6MDE5M2E1YzItN2QxZS03YzNhLTliMmYtMWY2ZjBlMmE4YzEx"`
}

// ListOrdersOutput is the answer of list-orders.
type ListOrdersOutput struct {
	Body OrderList
}

type handlers struct {
	svc Service
	log *slog.Logger
}

func (h *handlers) placeOrder(ctx context.Context, in *PlaceOrderInput) (*PlaceOrderOutput, error) {
	spec, err := in.Body.spec()
	if err != nil {
		return nil, problem(ctx, h.log, "place-order", "body", err)
	}
	if in.IdempotencyKey == "" {
		o, err := h.svc.PlaceOrder(ctx, spec)
		if err != nil {
			return nil, problem(ctx, h.log, "place-order", "body", err)
		}
		return &PlaceOrderOutput{Location: "/orders/" + o.ID.String(), Body: toOrder(o)}, nil
	}
	key, err := domain.ParseIdempotencyKey(in.IdempotencyKey)
	if err != nil {
		return nil, problem(ctx, h.log, "place-order", "header", err)
	}
	o, replayed, err := h.svc.PlaceOrderOnce(ctx, key, spec)
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
	id, err := domain.ParseID(in.ID)
	if err != nil {
		return nil, problem(ctx, h.log, "get-order", "path", err)
	}
	o, err := h.svc.Order(ctx, id)
	if err != nil {
		return nil, problem(ctx, h.log, "get-order", "path", err)
	}
	return &GetOrderOutput{Body: toOrder(o)}, nil
}

// cursorPrefix versions the opaque cursor so its format can change.
const cursorPrefix = "v1:"

func encodeCursor(id domain.ID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + id.String()))
}

func decodeCursor(s string) (domain.ID, error) {
	bad := &domain.ValidationError{Field: "cursor", Reason: "is not a cursor this API issued: pass next_cursor from the previous page unchanged"}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return domain.ID{}, bad
	}
	id, err := domain.ParseID(strings.TrimPrefix(string(b), cursorPrefix))
	if err != nil {
		return domain.ID{}, bad
	}
	return id, nil
}

func (h *handlers) listOrders(ctx context.Context, in *ListOrdersInput) (*ListOrdersOutput, error) {
	q := ports.ListQuery{Limit: in.Limit, Status: domain.Status(in.Status)}
	if in.Cursor != "" {
		id, err := decodeCursor(in.Cursor)
		if err != nil {
			return nil, problem(ctx, h.log, "list-orders", "query", err)
		}
		q.Before = id
	}
	page, err := h.svc.ListOrders(ctx, q)
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

// Recover answers a panicking request with the contract's 500 body and logs
// the panic with its stack, instead of dropping the connection.
func Recover(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(v)
			}
			log.ErrorContext(ctx, "panic serving request", "method", r.Method, "path", r.URL.Path, "request_id", RequestID(ctx), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"message":"`+InternalMessage+`"}`)
		}()
		next.ServeHTTP(w, r)
	})
}
