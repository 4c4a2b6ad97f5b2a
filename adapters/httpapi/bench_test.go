package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports/mocks"
)

// BenchmarkPlaceOrderHTTP measures authentication (a cached key), request
// decoding, validation and the response, with storage switched off.
func BenchmarkPlaceOrderHTTP(b *testing.B) {
	store := &mocks.OrdersMock{CreateFunc: func(ctx context.Context, o domain.Order) error { return nil }}
	kr := newKeyring(b)
	key, _ := kr.add(testAccount)
	h := httpapi.Handler(app.NewService(store, nil, clock{}, nil), kr.auth, httpapi.Health{DB: pinger{}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const body = `{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":123.45,"quantity":10}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 201 {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}
