package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"

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
// Every call takes the account of the request's API key, and answers only
// with that account's orders: another account's order is not found.
type Service interface {
	PlaceOrder(ctx context.Context, account domain.Account, spec domain.Spec) (domain.Order, error)
	PlaceOrderOnce(ctx context.Context, account domain.Account, key domain.IdempotencyKey, spec domain.Spec) (domain.Order, bool, error)
	Order(ctx context.Context, account domain.Account, id domain.ID) (domain.Order, error)
	CancelOrder(ctx context.Context, account domain.Account, id domain.ID) (domain.Order, error)
	ListOrders(ctx context.Context, account domain.Account, q ports.ListQuery) (app.Page, error)
	// OrderEvents, CreateWebhook, Webhooks and DeleteWebhook return
	// app.ErrNoEvents when the core runs without events or webhooks.
	OrderEvents(ctx context.Context, account domain.Account, id domain.ID) ([]domain.OrderEvent, error)
	CreateWebhook(ctx context.Context, account domain.Account, rawURL string) (domain.Webhook, error)
	Webhooks(ctx context.Context, account domain.Account) ([]domain.Webhook, error)
	DeleteWebhook(ctx context.Context, account domain.Account, id domain.WebhookID) error
}

// Pinger reports whether the database answers, for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Health is what the health endpoints report on.
type Health struct {
	// DB must answer for the instance to be ready.
	DB Pinger
	// Exchange, if set, is the exchange circuit breaker whose state /readyz
	// reports. An open circuit does not make the instance unready: orders
	// are still accepted.
	Exchange ports.Gate
}

// NewAPI returns a Huma API on mux serving the OpenAPI document at
// /openapi.json and /openapi.yaml, and docs at /docs: Stoplight Elements, embedded in
// the binary, rendering /openapi.json (no script from a CDN). It leaves out Huma's $schema links: the bodies
// are exactly what the contract lists.
func NewAPI(mux *http.ServeMux) huma.API {
	overrideNewError()
	cfg := huma.DefaultConfig("ordergate", Version)
	cfg.CreateHooks = nil // no $schema field, no Link header
	cfg.DocsPath = ""     // Huma's page loads its renderer from unpkg.com; docs.go serves Stoplight Elements from the binary
	cfg.Formats = map[string]huma.Format{"application/json": jsonFormat, "json": jsonFormat}
	cfg.Info.License = &huma.License{Name: "MIT", Identifier: "MIT"}
	cfg.Servers = []*huma.Server{{URL: "http://127.0.0.1:8080", Description: "A local instance started with make run"}}
	cfg.Info.Description = "Accepts stock orders, stores each one durably, and guarantees every stored order is placed at the exchange. " +
		"A 201 means the order and its placement job are committed; placement is retried until the exchange acknowledges it. " +
		"Every change of an order is an event, streamed at GET /events (server-sent events) and POSTed, signed, to the account's webhooks. " +
		"Every order, event and webhook operation needs an API key, sent as Authorization: Bearer <key>; an account sees only the orders its keys placed, and only their events."
	api := humago.New(mux, cfg)
	registerDocs(mux, cfg.Info.Title+" "+cfg.Info.Version+" API")
	return api
}

// Handler returns the whole HTTP API: every operation, the order
// operations behind auth's API keys, with panics answered by the
// contract's 500 body and one access log line per request.
func Handler(svc Service, auth Authenticator, h Health, log *slog.Logger, opts ...Option) http.Handler {
	mux := http.NewServeMux()
	Register(NewAPI(mux), svc, auth, h, log, opts...)
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
	o := newOptions(opts)
	if o.metrics != nil {
		mux.Handle("GET /metrics", o.metrics)
	}
	return accessLog(Recover(mux, log), log, o.observer)
}

// OpenAPI returns the OpenAPI document as YAML, byte for byte what the
// server serves at /openapi.yaml.
func OpenAPI() ([]byte, error) {
	api := NewAPI(http.NewServeMux())
	Register(api, nil, nil, Health{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return api.OpenAPI().YAML()
}
