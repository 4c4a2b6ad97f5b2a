package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/domain"
)

// TestOpenAPIDocumentsEveryField holds the document to what client authors
// need: every order operation is in it with the answers the contract gives
// it, and needs the bearer key while the health operations say they need
// none; every schema property, parameter and response header has a
// description and an example, and so does every answer of an order
// operation; the 500 of every order operation is the contract's body, not
// Huma's.
func TestOpenAPIDocumentsEveryField(t *testing.T) {
	api := httpapi.NewAPI(http.NewServeMux())
	httpapi.Register(api, nil, nil, httpapi.Health{}, quietLog())
	raw, err := json.Marshal(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Tags        []string
			Parameters  []struct {
				Name        string
				Description string
				Example     any
				Schema      struct{ Examples []any }
			}
			Security  *[]map[string][]string
			Responses map[string]struct {
				Headers map[string]struct {
					Description string
					Schema      struct {
						Description string
						Examples    []any
					}
				}
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					}
					Example any
				}
			}
		}
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Description string
					Examples    []any
				}
			}
			SecuritySchemes map[string]struct {
				Type, Scheme, Description string
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for name, s := range doc.Components.Schemas {
		for prop, p := range s.Properties {
			if p.Description == "" {
				t.Errorf("schema %s: field %s has no description", name, prop)
			}
			if len(p.Examples) == 0 {
				t.Errorf("schema %s: field %s has no example", name, prop)
			}
		}
	}
	// The answers each order operation must document (CONTRACT §2).
	answers := map[string][]string{
		"place-order":  {"201", "400", "401", "413", "415", "422", "429", "500"},
		"get-order":    {"200", "401", "404", "422", "429", "500"},
		"list-orders":  {"200", "401", "422", "429", "500"},
		"cancel-order": {"202", "401", "404", "409", "422", "429", "500"},
		"list-fills":   {"200", "401", "404", "422", "429", "500"},
		// CONTRACT §2.7 and §2.8.
		"list-order-events": {"200", "401", "404", "422", "429", "500", "503"},
		"stream-events":     {"200", "400", "401", "410", "429", "500", "503"},
		"create-webhook":    {"201", "400", "401", "422", "429", "500", "503"},
		"list-webhooks":     {"200", "401", "429", "500", "503"},
		"delete-webhook":    {"204", "401", "404", "429", "500", "503"},
	}
	// The headers that come with the answers of every order operation.
	headers := map[string]string{"401": "WWW-Authenticate", "429": "Retry-After"}
	bearer, ok := doc.Components.SecuritySchemes["bearer"]
	if !ok || bearer.Type != "http" || bearer.Scheme != "bearer" {
		t.Errorf("security scheme bearer = %+v; want type http, scheme bearer", bearer)
	}
	for _, s := range []string{"ordergate keys create --account NAME", "first start", "shown once"} {
		if !strings.Contains(bearer.Description, s) {
			t.Errorf("the bearer scheme's description does not say %q: %s", s, bearer.Description)
		}
	}
	routes := map[string]string{
		"place-order":       "post /orders",
		"get-order":         "get /orders/{id}",
		"list-orders":       "get /orders",
		"cancel-order":      "delete /orders/{id}",
		"list-fills":        "get /orders/{id}/fills",
		"list-order-events": "get /orders/{id}/events",
		"stream-events":     "get /events",
		"create-webhook":    "post /webhooks",
		"list-webhooks":     "get /webhooks",
		"delete-webhook":    "delete /webhooks/{id}",
	}
	seen := map[string]string{}
	for path, item := range doc.Paths {
		for method, op := range item {
			for _, p := range op.Parameters {
				if p.Description == "" || (p.Example == nil && len(p.Schema.Examples) == 0) {
					t.Errorf("%s %s: parameter %s lacks a description or an example", method, path, p.Name)
				}
			}
			seen[op.OperationID] = method + " " + path
			for _, code := range answers[op.OperationID] {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s: no %s response", op.OperationID, code)
				}
				if h, ok := headers[code]; ok {
					if _, ok := op.Responses[code].Headers[h]; !ok {
						t.Errorf("%s: %s response does not document %s", op.OperationID, code, h)
					}
				}
			}
			_, isOrderOp := answers[op.OperationID]
			switch {
			case op.Security == nil:
				t.Errorf("%s: no security stated", op.OperationID)
			case isOrderOp && !reflect.DeepEqual(*op.Security, []map[string][]string{{"bearer": {}}}):
				t.Errorf("%s: security = %v; want [{bearer: []}]", op.OperationID, *op.Security)
			case !isOrderOp && len(*op.Security) != 0:
				t.Errorf("%s: security = %v; want [] (no key)", op.OperationID, *op.Security)
			}
			for code, r := range op.Responses {
				for name, h := range r.Headers {
					if (h.Description == "" && h.Schema.Description == "") || len(h.Schema.Examples) == 0 {
						t.Errorf("%s: %s header %s lacks a description or an example", op.OperationID, code, name)
					}
				}
				for ct, mt := range r.Content {
					if mt.Example == nil && isOrderOp {
						t.Errorf("%s: %s %s has no example", op.OperationID, code, ct)
					}
				}
			}
			if isOrderOp {
				mt, ok := op.Responses["500"].Content["application/json"]
				if !ok || mt.Schema.Ref != "#/components/schemas/InternalError" {
					t.Errorf("%s: 500 is %+v; want application/json InternalError", op.OperationID, op.Responses["500"])
				}
			}
		}
	}
	for id, route := range routes {
		if seen[id] != route {
			t.Errorf("operation %s is at %q; want %q", id, seen[id], route)
		}
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestStatusesFollowTheDomain checks the document's status enums are the
// lifecycle's statuses, each explained.
func TestStatusesFollowTheDomain(t *testing.T) {
	api := httpapi.NewAPI(http.NewServeMux())
	httpapi.Register(api, nil, nil, httpapi.Health{}, quietLog())
	oas := api.OpenAPI()
	var want []any
	for _, s := range domain.Statuses() {
		want = append(want, string(s))
	}
	order := oas.Components.Schemas.Map()["Order"].Properties["status"]
	if diff := cmp.Diff(want, order.Enum); diff != "" {
		t.Errorf("Order.status enum (-domain +document):\n%s", diff)
	}
	for _, s := range domain.Statuses() {
		if !strings.Contains(order.Description, " "+string(s)+": ") {
			t.Errorf("Order.status description does not explain %s: %s", s, order.Description)
		}
	}
	var filter *huma.Param
	for _, p := range oas.Paths["/orders"].Get.Parameters {
		if p.Name == "status" {
			filter = p
		}
	}
	if filter == nil {
		t.Fatal("list-orders has no status parameter")
	}
	if diff := cmp.Diff(want, filter.Schema.Enum); diff != "" {
		t.Errorf("list-orders status enum (-domain +document):\n%s", diff)
	}
}

// TestDocsShowHowToAuthenticate checks /docs explains the bearer key and
// marks which operations need it.
func TestDocsShowHowToAuthenticate(t *testing.T) {
	f := newFixture(t, memOrders(), pinger{})
	resp := f.api.Get("/docs")
	if resp.Code != http.StatusOK {
		t.Fatalf("GET /docs = %d", resp.Code)
	}
	page := resp.Body.String()
	for _, s := range []string{`id="authentication"`, "Authorization: Bearer &lt;key&gt;", "ordergate keys create --account NAME", "WWW-Authenticate", "Retry-After"} {
		if !strings.Contains(page, s) {
			t.Errorf("/docs does not show %q", s)
		}
	}
	// section returns the part of the page about one operation.
	section := func(id string) string {
		_, rest, ok := strings.Cut(page, `<h2 id="`+id+`">`)
		if !ok {
			t.Fatalf("/docs has no section %s", id)
		}
		s, _, _ := strings.Cut(rest, "<h2")
		return s
	}
	for _, id := range []string{"place-order", "get-order", "list-orders", "cancel-order", "list-fills", "list-order-events", "stream-events", "create-webhook", "list-webhooks", "delete-webhook"} {
		if s := section(id); !strings.Contains(s, `<strong>Authentication:</strong> <a href="#security-bearer">bearer</a>`) {
			t.Errorf("/docs does not say %s needs the bearer key", id)
		}
	}
	for _, id := range []string{"healthz", "readyz"} {
		if s := section(id); !strings.Contains(s, "<strong>Authentication:</strong> none") {
			t.Errorf("/docs does not say %s needs no key", id)
		}
	}
}

// TestOpenAPIDocumentsTheEventStream: GET /events answers text/event-stream
// with one message per event type of the domain, each named by its event:
// line and carrying an Event; and the Event's type enum is the domain's,
// each type explained.
func TestOpenAPIDocumentsTheEventStream(t *testing.T) {
	api := httpapi.NewAPI(http.NewServeMux())
	httpapi.Register(api, nil, nil, httpapi.Health{}, quietLog())
	raw, err := json.Marshal(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema struct {
						Type  string
						Items struct {
							OneOf []struct {
								Properties struct {
									Event struct {
										Const string `json:"const"`
									}
									Data struct {
										Ref string `json:"$ref"`
									}
								}
							} `json:"oneOf"`
						}
					}
					Example json.RawMessage
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	ok := doc.Paths["/events"]["get"].Responses["200"]
	mt, found := ok.Content["text/event-stream"]
	if !found {
		t.Fatalf("GET /events 200 has no text/event-stream: %+v", ok.Content)
	}
	var got, want []string
	for _, m := range mt.Schema.Items.OneOf {
		got = append(got, m.Properties.Event.Const)
		if m.Properties.Data.Ref != "#/components/schemas/Event" {
			t.Errorf("message %s carries %q; want an Event", m.Properties.Event.Const, m.Properties.Data.Ref)
		}
	}
	for _, e := range domain.EventTypes() {
		want = append(want, string(e))
	}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages of GET /events (-domain +document):\n%s", diff)
	}
	var example []struct {
		ID    int64
		Event string
		Data  struct {
			EventID int64 `json:"event_id"`
		}
	}
	if err := json.Unmarshal(mt.Example, &example); err != nil || len(example) != 1 || example[0].Event != "order.partially_filled" || example[0].ID != example[0].Data.EventID {
		t.Errorf("the stream's example is not an array of messages: %s", mt.Example)
	}
	if d := api.OpenAPI().Paths["/events"].Get.Responses["200"].Description; !strings.Contains(d, "\nid: 1042\nevent: order.partially_filled\ndata: {\"event_id\":1042,") {
		t.Errorf("the stream's description does not show the wire format: %q", d)
	}
	typ := api.OpenAPI().Components.Schemas.Map()["Event"].Properties["type"]
	var enum []any
	for _, e := range domain.EventTypes() {
		enum = append(enum, string(e))
		if !strings.Contains(typ.Description, " "+string(e)+": ") {
			t.Errorf("Event.type does not explain %s: %s", e, typ.Description)
		}
	}
	if diff := cmp.Diff(enum, typ.Enum); diff != "" {
		t.Errorf("Event.type enum (-domain +document):\n%s", diff)
	}
}
