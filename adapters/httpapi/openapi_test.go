package httpapi_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/adapters/httpapi/docsui"
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

// TestDocsServeTheRendererFromTheBinary checks /docs is Stoplight Elements
// loaded from the server itself, under a policy that allows nothing else,
// reading the server's own document; its assets are the embedded files,
// cached for a year at addresses that change with their content. The
// browser test checks what the page renders.
func TestDocsServeTheRendererFromTheBinary(t *testing.T) {
	srv := httptest.NewServer(newServer(t, memOrders()).h)
	t.Cleanup(srv.Close)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, page := get("/docs")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /docs = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self';"} {
		if !strings.Contains(csp, want) {
			t.Errorf("/docs Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if !strings.Contains(page, `<elements-api apiDescriptionUrl="/openapi.json"`) {
		t.Errorf("/docs does not render /openapi.json with Elements:\n%s", page)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	var assets []string
	for _, m := range refs {
		switch {
		case strings.HasPrefix(m[1], "/docs/assets/"):
			assets = append(assets, m[1])
		case m[1] == "data:," || m[1] == "/openapi.yaml" || m[1] == "/openapi.json":
		default:
			t.Errorf("/docs refers to %q, outside the server's own assets", m[1])
		}
	}
	want := map[string]string{docsui.Script: "text/javascript; charset=utf-8", docsui.Stylesheet: "text/css; charset=utf-8"}
	for _, a := range assets {
		name := path.Base(a)
		resp, body := get(a)
		embedded, err := fs.ReadFile(docsui.FS, name)
		if err != nil || resp.StatusCode != http.StatusOK || body != string(embedded) {
			t.Errorf("GET %s = %d, %d bytes; want the embedded %s (%v)", a, resp.StatusCode, len(body), name, err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != want[name] {
			t.Errorf("GET %s Content-Type = %q; want %q", a, ct, want[name])
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s Cache-Control = %q; want a year, immutable", a, cc)
		}
		delete(want, name)
	}
	for name := range want {
		t.Errorf("/docs does not load %s", name)
	}
	for _, p := range []string{"/docs/assets/000000000000/" + docsui.Script, "/docs/assets/x/SHA256SUMS", "/docs/assets/"} {
		if resp, _ := get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", p, resp.StatusCode)
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
