package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/domain"
)

// TestOpenAPIDocumentsEveryField holds the document to what client authors
// need: every schema property and parameter has a description and an
// example; the 201, 422 and 500 answers of POST /orders have examples; the
// 500 of every order operation is the contract's body, not Huma's.
func TestOpenAPIDocumentsEveryField(t *testing.T) {
	api := httpapi.NewAPI(http.NewServeMux())
	httpapi.Register(api, nil, httpapi.Health{}, quietLog())
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
			Responses map[string]struct {
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
	for path, item := range doc.Paths {
		for method, op := range item {
			for _, p := range op.Parameters {
				if p.Description == "" || (p.Example == nil && len(p.Schema.Examples) == 0) {
					t.Errorf("%s %s: parameter %s lacks a description or an example", method, path, p.Name)
				}
			}
			if op.OperationID == "place-order" {
				for _, code := range []string{"201", "422", "500"} {
					r, ok := op.Responses[code]
					if !ok {
						t.Errorf("place-order: no %s response", code)
					}
					for ct, mt := range r.Content {
						if mt.Example == nil {
							t.Errorf("place-order: %s %s has no example", code, ct)
						}
					}
				}
			}
			if len(op.Tags) > 0 && op.Tags[0] == "orders" {
				mt, ok := op.Responses["500"].Content["application/json"]
				if !ok || mt.Schema.Ref != "#/components/schemas/InternalError" {
					t.Errorf("%s: 500 is %+v; want application/json InternalError", op.OperationID, op.Responses["500"])
				}
			}
		}
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestStatusesFollowTheDomain checks the document's status enums are the
// lifecycle's statuses, each explained.
func TestStatusesFollowTheDomain(t *testing.T) {
	api := httpapi.NewAPI(http.NewServeMux())
	httpapi.Register(api, nil, httpapi.Health{}, quietLog())
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
