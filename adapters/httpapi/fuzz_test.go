package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
)

// FuzzPlaceOrderBody sends arbitrary bodies to POST /orders. Whatever the
// input, the answer is 201, 400, 413, 415 or 422, never a 500 or a panic,
// and a 201 means the service got an order that passes every domain rule.
func FuzzPlaceOrderBody(f *testing.F) {
	for _, seed := range []string{
		`{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":123.45,"quantity":10}`,
		`{"type":"market","side":"sell","instrument":"DE000BASF111","quantity":1}`,
		`{"type":"market","side":"sell","instrument":"DE000BASF111","limit_price":null,"quantity":1}`,
		`{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":1.5e2,"quantity":1}`,
		`{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":1e400,"quantity":1.0}`,
		`{"type":"limit","side":"buy","instrument":"US0378331006","limit_price":-0.001,"quantity":"1"}`,
		`{"quantity":1e2}`, `[]`, `null`, `{`, ``, `{"x":[[[[[[]]]]]]}`,
	} {
		f.Add(seed)
	}
	store := memOrders()
	var got []domain.Order
	store.CreateFunc = func(ctx context.Context, o domain.Order) error {
		got = append(got, o)
		return nil
	}
	kr := newKeyring(f)
	key, _ := kr.add(testAccount)
	h := httpapi.Handler(app.NewService(store, nil, clock{}, nil), kr.auth, httpapi.Health{DB: pinger{}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, body string) {
		got = got[:0]
		req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 201:
			if len(got) != 1 {
				t.Fatalf("201 but %d orders stored", len(got))
			}
			o := got[0]
			spec := domain.Spec{Type: o.Type, Side: o.Side, Instrument: string(o.Instrument), LimitPrice: o.LimitPrice, Quantity: o.Quantity}
			if _, err := domain.New(o.ID, time.Now(), spec); err != nil {
				t.Fatalf("201 for an order that breaks a rule: %v (body %q)", err, body)
			}
		case 400, 413, 415, 422:
			if len(got) != 0 {
				t.Fatalf("%d but an order was stored", rec.Code)
			}
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
	})
}
