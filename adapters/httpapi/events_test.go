package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2/humatest"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports/mocks"
)

// memHooks backs a WebhooksMock with a slice: each account sees and
// deletes only its own endpoints, as the port says.
func memHooks() *mocks.WebhooksMock {
	var mu sync.Mutex
	var all []domain.Webhook
	return &mocks.WebhooksMock{
		CreateWebhookFunc: func(ctx context.Context, w domain.Webhook) error {
			mu.Lock()
			defer mu.Unlock()
			all = append(all, w)
			return nil
		},
		WebhooksFunc: func(ctx context.Context, account domain.Account) ([]domain.Webhook, error) {
			mu.Lock()
			defer mu.Unlock()
			var out []domain.Webhook
			for _, w := range all {
				if w.Account == account {
					out = append(out, w)
				}
			}
			return out, nil
		},
		DeleteWebhookFunc: func(ctx context.Context, account domain.Account, id domain.WebhookID) error {
			mu.Lock()
			defer mu.Unlock()
			for i, w := range all {
				if w.ID == id && w.Account == account {
					all = append(all[:i], all[i+1:]...)
					return nil
				}
			}
			return domain.ErrNotFound
		},
	}
}

// eventsFixture is an API over a real app.Service with events and
// webhooks, on mock stores; api sends the fixture's key (of testAccount).
type eventsFixture struct {
	api    humatest.TestAPI
	keys   *keyring
	hooks  *mocks.WebhooksMock
	events *mocks.EventsMock
	guard  *mocks.AddressGuardMock
}

func newEventsFixture(t *testing.T, store *mocks.OrdersMock, events *mocks.EventsMock) *eventsFixture {
	t.Helper()
	f := &eventsFixture{
		hooks:  memHooks(),
		events: events,
		guard: &mocks.AddressGuardMock{CheckWebhookURLFunc: func(ctx context.Context, u string) error {
			if strings.Contains(u, "127.0.0.1") {
				return &domain.ValidationError{Field: "url", Reason: "resolves to a loopback address"}
			}
			return nil
		}},
	}
	svc := app.NewService(store, nil, clock{}, nil, app.WithEvents(events), app.WithWebhooks(f.hooks, f.guard))
	f.keys = newKeyring(t)
	key, _ := f.keys.add(testAccount)
	api := httpapi.NewAPI(http.NewServeMux())
	httpapi.Register(api, svc, f.keys.auth, httpapi.Health{DB: pinger{}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.api = withKey{humatest.Wrap(t, api), bearer(key)}
	return f
}

// anEvent is an event of o after a change to status with the fill f, if
// not nil.
func anEvent(id domain.EventID, typ domain.EventType, o domain.Order, f *domain.Fill) domain.OrderEvent {
	e := domain.NewOrderEvent(typ, o, f)
	e.ID, e.Account, e.OccurredAt = id, o.Account, o.UpdatedAt
	return e
}

func TestEventJSON(t *testing.T) {
	o := stored(t, domain.PartiallyFilled, fill(t, "s1-17", 4, "100.00", 1))
	o.Account = testAccount
	withFill := anEvent(7, domain.EventPartiallyFilled, o, &o.Fills[0])
	noFill := anEvent(8, domain.EventPendingCancel, o, nil)
	order := `{"id":"` + o.ID.String() + `","created_at":"2026-11-24T10:15:30.123456Z","updated_at":"2026-11-24T10:15:32.123456Z",` +
		`"type":"limit","side":"buy","instrument":"US0378331005","limit_price":123.45,"quantity":10,"status":"partially_filled",` +
		`"filled_quantity":4,"average_fill_price":100.00,"placement_attempts":1,"placed_at":"2026-11-24T10:15:30.623456Z","last_error":null}`
	tests := []struct {
		name string
		e    domain.OrderEvent
		want string
	}{
		{"with fill", withFill, `{"event_id":7,"type":"order.partially_filled","occurred_at":"2026-11-24T10:15:32.123456Z","order":` + order +
			`,"fill":{"exec_id":"s1-17","quantity":4,"price":100.00,"executed_at":"2026-11-24T10:15:31.123456Z"}}`},
		{"without fill", noFill, `{"event_id":8,"type":"order.pending_cancel","occurred_at":"2026-11-24T10:15:32.123456Z","order":` + order +
			`,"fill":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := httpapi.EventJSON(tt.e)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("EventJSON =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	// The order in the event is byte for byte what get-order answers.
	f := newFixture(t, memOrders(o), pinger{})
	resp := f.api.Get("/orders/" + o.ID.String())
	if got := strings.TrimSpace(resp.Body.String()); got != order {
		t.Errorf("get-order =\n%s\nwant the event's order\n%s", got, order)
	}
}

func TestListOrderEvents(t *testing.T) {
	o := stored(t, domain.PartiallyFilled, fill(t, "s1-17", 4, "100.00", 1))
	o.Account = testAccount
	created := o
	created.Status, created.Fills = domain.Pending, nil
	evs := []domain.OrderEvent{
		anEvent(3, domain.EventCreated, created, nil),
		anEvent(9, domain.EventPartiallyFilled, o, &o.Fills[0]),
	}
	events := &mocks.EventsMock{OrderEventsFunc: func(ctx context.Context, account domain.Account, id domain.ID) ([]domain.OrderEvent, error) {
		if account != testAccount || id != o.ID {
			return nil, domain.ErrNotFound
		}
		return evs, nil
	}}
	f := newEventsFixture(t, memOrders(o), events)

	resp := f.api.Get("/orders/" + o.ID.String() + "/events")
	if resp.Code != http.StatusOK {
		t.Fatalf("status = %d %s; want 200", resp.Code, resp.Body)
	}
	var want strings.Builder
	want.WriteString(`{"events":[`)
	for i, e := range evs {
		b, err := httpapi.EventJSON(e)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			want.WriteString(",")
		}
		want.Write(b)
	}
	want.WriteString(`]}`)
	if got := strings.TrimSpace(resp.Body.String()); got != want.String() {
		t.Errorf("body =\n%s\nwant\n%s", got, want.String())
	}

	t.Run("another account's order", func(t *testing.T) {
		other, _ := f.keys.add("globex")
		resp := f.api.Get("/orders/"+o.ID.String()+"/events", bearer(other))
		if resp.Code != http.StatusNotFound {
			t.Fatalf("status = %d %s; want 404", resp.Code, resp.Body)
		}
		if p := problemOf(t, resp); p.Detail != "order not found" {
			t.Errorf("detail = %q; want order not found", p.Detail)
		}
	})
	t.Run("malformed id", func(t *testing.T) {
		resp := f.api.Get("/orders/nope/events")
		if resp.Code != http.StatusUnprocessableEntity {
			t.Fatalf("status = %d %s; want 422", resp.Code, resp.Body)
		}
	})
	t.Run("no key", func(t *testing.T) {
		resp := f.api.(withKey).TestAPI.Get("/orders/" + o.ID.String() + "/events")
		if resp.Code != http.StatusUnauthorized {
			t.Fatalf("status = %d %s; want 401", resp.Code, resp.Body)
		}
	})
}

func TestCreateWebhook(t *testing.T) {
	f := newEventsFixture(t, memOrders(), &mocks.EventsMock{})
	resp := f.api.Post("/webhooks", jsonCT, strings.NewReader(`{"url":"https://example.com/hook"}`))
	if resp.Code != http.StatusCreated {
		t.Fatalf("status = %d %s; want 201", resp.Code, resp.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(resp.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Errorf("fields = %v; want id, url, secret, created_at", got)
	}
	stored := f.hooks.CreateWebhookCalls()
	if len(stored) != 1 {
		t.Fatalf("CreateWebhook calls = %d; want 1", len(stored))
	}
	w := stored[0].W
	if w.Account != testAccount {
		t.Errorf("stored for account %q; want %q", w.Account, testAccount)
	}
	if got["id"] != string(w.ID) || got["url"] != "https://example.com/hook" || got["secret"] != w.Secret || !strings.HasPrefix(w.Secret, "whsec_") {
		t.Errorf("body = %v; stored %+v", got, w)
	}
	if ca, _ := got["created_at"].(string); ca != w.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z07:00") {
		t.Errorf("created_at = %v; want %v", got["created_at"], w.CreatedAt)
	}
}

func TestCreateWebhookRefusesBadURLs(t *testing.T) {
	tests := []struct {
		name, body string
		want       int
		wantLoc    string
	}{
		{"ftp", `{"url":"ftp://example.com/hook"}`, 422, "body.url"},
		{"relative", `{"url":"/hook"}`, 422, "body.url"},
		{"user info", `{"url":"https://u:p@example.com/hook"}`, 422, "body.url"},
		{"loopback refused by the guard", `{"url":"http://127.0.0.1:9000/hook"}`, 422, "body.url"},
		{"missing url", `{}`, 422, "body"}, // Huma's message names url
		{"url not a string", `{"url":5}`, 422, "body.url"},
		{"unknown field", `{"url":"https://example.com/hook","secret":"x"}`, 422, "body.secret"},
		{"malformed JSON", `{"url":`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEventsFixture(t, memOrders(), &mocks.EventsMock{})
			resp := f.api.Post("/webhooks", jsonCT, strings.NewReader(tt.body))
			if resp.Code != tt.want {
				t.Fatalf("status = %d %s; want %d", resp.Code, resp.Body, tt.want)
			}
			p := problemOf(t, resp)
			if tt.wantLoc != "" && (len(p.Errors) == 0 || p.Errors[0].Location != tt.wantLoc) {
				t.Errorf("errors = %+v; want one at %s", p.Errors, tt.wantLoc)
			}
			if named := "url"; tt.wantLoc != "" && tt.wantLoc != "body.secret" && !strings.Contains(p.Errors[0].Location+" "+p.Errors[0].Message, named) {
				t.Errorf("errors = %+v; want one naming %s", p.Errors, named)
			}
			if n := len(f.hooks.CreateWebhookCalls()); n != 0 {
				t.Errorf("CreateWebhook calls = %d; want 0", n)
			}
		})
	}
}

func TestListWebhooksShowsNoSecret(t *testing.T) {
	f := newEventsFixture(t, memOrders(), &mocks.EventsMock{})
	for _, u := range []string{"https://example.com/a", "https://example.com/b"} {
		if resp := f.api.Post("/webhooks", jsonCT, strings.NewReader(`{"url":"`+u+`"}`)); resp.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", resp.Code, resp.Body)
		}
	}
	// Another account's endpoint is not listed.
	other, _ := f.keys.add("globex")
	if resp := f.api.Post("/webhooks", bearer(other), jsonCT, strings.NewReader(`{"url":"https://example.com/c"}`)); resp.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.Code, resp.Body)
	}
	resp := f.api.Get("/webhooks")
	if resp.Code != http.StatusOK {
		t.Fatalf("status = %d %s; want 200", resp.Code, resp.Body)
	}
	if strings.Contains(resp.Body.String(), "whsec_") || strings.Contains(resp.Body.String(), "secret") {
		t.Errorf("list shows a secret: %s", resp.Body)
	}
	var got struct {
		Webhooks []map[string]any `json:"webhooks"`
	}
	if err := json.Unmarshal(resp.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Webhooks) != 2 {
		t.Fatalf("webhooks = %v; want the account's 2", got.Webhooks)
	}
	for i, w := range got.Webhooks {
		if len(w) != 4 || w["id"] == "" || w["created_at"] == "" {
			t.Errorf("webhook %d = %v; want id, url, created_at, disabled_at", i, w)
		}
		if v, ok := w["disabled_at"]; !ok || v != nil {
			t.Errorf("webhook %d: disabled_at = %v (present %v); want null", i, v, ok)
		}
	}
	if got.Webhooks[0]["url"] != "https://example.com/a" || got.Webhooks[1]["url"] != "https://example.com/b" {
		t.Errorf("urls = %v, %v; want a, b", got.Webhooks[0]["url"], got.Webhooks[1]["url"])
	}
}

func TestListWebhooksShowsDisabled(t *testing.T) {
	f := newEventsFixture(t, memOrders(), &mocks.EventsMock{})
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	f.hooks.WebhooksFunc = func(ctx context.Context, account domain.Account) ([]domain.Webhook, error) {
		return []domain.Webhook{{ID: "wh_1", Account: account, URL: "https://example.com/a", Secret: "whsec_c2VjcmV0", CreatedAt: at.Add(-time.Hour), DisabledAt: at}}, nil
	}
	resp := f.api.Get("/webhooks")
	want := `{"webhooks":[{"id":"wh_1","url":"https://example.com/a","created_at":"2026-11-25T07:00:00.000000Z","disabled_at":"2026-11-25T08:00:00.000000Z"}]}`
	if got := strings.TrimSpace(resp.Body.String()); got != want {
		t.Errorf("body = %s; want %s", got, want)
	}
}

func TestDeleteWebhook(t *testing.T) {
	f := newEventsFixture(t, memOrders(), &mocks.EventsMock{})
	resp := f.api.Post("/webhooks", jsonCT, strings.NewReader(`{"url":"https://example.com/a"}`))
	var created struct{ ID string }
	if err := json.Unmarshal(resp.Body.Bytes(), &created); err != nil || created.ID == "" {
		t.Fatalf("create: %d %s", resp.Code, resp.Body)
	}
	other, _ := f.keys.add("globex")
	if resp := f.api.Delete("/webhooks/"+created.ID, bearer(other)); resp.Code != http.StatusNotFound {
		t.Errorf("another account's delete: status = %d %s; want 404", resp.Code, resp.Body)
	} else if p := problemOf(t, resp); p.Detail != "webhook not found" {
		t.Errorf("detail = %q; want webhook not found", p.Detail)
	}
	if resp := f.api.Delete("/webhooks/" + created.ID); resp.Code != http.StatusNoContent || resp.Body.Len() != 0 {
		t.Errorf("delete: status = %d %q; want 204, no body", resp.Code, resp.Body)
	}
	if resp := f.api.Delete("/webhooks/" + created.ID); resp.Code != http.StatusNotFound {
		t.Errorf("second delete: status = %d %s; want 404", resp.Code, resp.Body)
	}
	if resp := f.api.Delete("/webhooks/wh_unknown"); resp.Code != http.StatusNotFound {
		t.Errorf("unknown: status = %d %s; want 404", resp.Code, resp.Body)
	}
}

// TestEventOperationsWithoutEvents: a core built without events and
// webhooks answers 503 with a problem document, and logs no error.
func TestEventOperationsWithoutEvents(t *testing.T) {
	o := stored(t, domain.Placed)
	f := newFixture(t, memOrders(o), pinger{})
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/orders/" + o.ID.String() + "/events", ""},
		{http.MethodPost, "/webhooks", `{"url":"https://example.com/a"}`},
		{http.MethodGet, "/webhooks", ""},
		{http.MethodDelete, "/webhooks/wh_1", ""},
	} {
		var args []any
		if r.body != "" {
			args = append(args, jsonCT, strings.NewReader(r.body))
		}
		resp := f.api.Do(r.method, r.path, args...)
		if resp.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s: status = %d %s; want 503", r.method, r.path, resp.Code, resp.Body)
			continue
		}
		problemOf(t, resp)
	}
	if strings.Contains(f.logs.String(), "level=ERROR") {
		t.Errorf("logged an error: %s", f.logs)
	}
}
