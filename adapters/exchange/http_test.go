package exchange_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/domain"
)

func limitOrder(t *testing.T) domain.Order {
	t.Helper()
	p := domain.PriceFromCents(1230)
	o, err := domain.New(domain.NewID(t0), t0, domain.Spec{Type: domain.Limit, Side: domain.Sell, Instrument: "DE000BASF111", LimitPrice: &p, Quantity: 4})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestHTTPClientAgainstTheVenueServer(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{Rand: always(0.5)})
	srv := httptest.NewServer(exchange.VenueHandler(v))
	defer srv.Close()
	c, err := exchange.NewHTTP(srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	o := limitOrder(t)
	for range 3 {
		if err := c.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get(srv.URL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats exchange.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	if stats.Placed != 1 || stats.Duplicates != 2 || stats.Calls != 3 || stats.Placements[o.ID.String()] != 1 {
		t.Errorf("stats = %+v; want one placement of %s and two deduplicated repeats", stats, o.ID)
	}
}

func TestHTTPClientClassifiesFailures(t *testing.T) {
	answer := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		permanent bool
		wantMsg   string
	}{
		{"503 is transient", answer(503, `{"error":"Failed to place order at stock exchange. Connection not available"}`), false, "Connection not available"},
		{"500 is transient", answer(500, `oops`), false, "500"},
		{"429 is transient", answer(429, `slow down`), false, "429"},
		{"422 is a refusal", answer(422, `{"error":"unknown instrument"}`), true, "unknown instrument"},
		{"400 is a refusal", answer(400, `{"error":"malformed"}`), true, "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c, _ := exchange.NewHTTP(srv.URL, 5*time.Second)
			err := c.Place(context.Background(), limitOrder(t))
			if err == nil {
				t.Fatal("Place succeeded")
			}
			if got := errors.Is(err, domain.ErrRejected); got != tt.permanent {
				t.Errorf("permanent = %v (%v); want %v", got, err, tt.permanent)
			}
			var se *exchange.StatusError
			if !errors.As(err, &se) || !contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %v; want a StatusError mentioning %q", err, tt.wantMsg)
			}
		})
	}

	t.Run("simulator failure over HTTP is transient", func(t *testing.T) {
		srv := httptest.NewServer(exchange.VenueHandler(newVenue(t, exchange.VenueConfig{FailureRate: 1, Rand: always(0.5)})))
		defer srv.Close()
		c, _ := exchange.NewHTTP(srv.URL, 5*time.Second)
		if err := c.Place(context.Background(), limitOrder(t)); err == nil || errors.Is(err, domain.ErrRejected) {
			t.Errorf("error = %v; want a transient failure", err)
		}
	})

	t.Run("timeout is transient", func(t *testing.T) {
		srv := httptest.NewServer(exchange.VenueHandler(newVenue(t, exchange.VenueConfig{Latency: time.Hour, Rand: always(0.5)})))
		defer srv.Close()
		c, _ := exchange.NewHTTP(srv.URL, 50*time.Millisecond)
		if err := c.Place(context.Background(), limitOrder(t)); err == nil || errors.Is(err, domain.ErrRejected) {
			t.Errorf("error = %v; want a transient timeout", err)
		}
	})

	t.Run("connection refused is transient", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		c, _ := exchange.NewHTTP("http://"+addr, 5*time.Second)
		if err := c.Place(context.Background(), limitOrder(t)); err == nil || errors.Is(err, domain.ErrRejected) {
			t.Errorf("error = %v; want a transient connection error", err)
		}
	})
}

func TestNewHTTPValidates(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "127.0.0.1:9090", "http://"} {
		if _, err := exchange.NewHTTP(u, time.Second); err == nil {
			t.Errorf("NewHTTP(%q) succeeded", u)
		}
	}
	if _, err := exchange.NewHTTP("http://127.0.0.1:9090", 0); err == nil {
		t.Error("NewHTTP with a zero timeout succeeded")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestHTTPClientCancelClassifiesAnswers(t *testing.T) {
	answer := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		ok        bool
		permanent bool
		wantMsg   string
	}{
		{"200 is accepted", answer(200, `{"status":"accepted"}`), true, false, ""},
		{"503 is transient", answer(503, `{"error":"Failed to cancel order at stock exchange. Connection not available"}`), false, false, "Connection not available"},
		{"500 is transient", answer(500, `oops`), false, false, "500"},
		{"429 is transient", answer(429, `slow down`), false, false, "429"},
		{"422 is a refusal", answer(422, `{"error":"too late: filled"}`), false, true, "too late: filled"},
		{"404 is a refusal", answer(404, `{"error":"no such route"}`), false, true, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.Method + " " + r.URL.Path
				tt.handler(w, r)
			}))
			defer srv.Close()
			c, _ := exchange.NewHTTP(srv.URL, 5*time.Second)
			id := domain.NewID(t0)
			err := c.Cancel(context.Background(), id)
			if want := "POST /orders/" + id.String() + "/cancel"; path != want {
				t.Errorf("request %q; want %q", path, want)
			}
			if tt.ok {
				if err != nil {
					t.Errorf("Cancel error = %v; want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Cancel succeeded")
			}
			if got := errors.Is(err, domain.ErrRejected); got != tt.permanent {
				t.Errorf("permanent = %v (%v); want %v", got, err, tt.permanent)
			}
			var se *exchange.StatusError
			if !errors.As(err, &se) || !contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %v; want a StatusError mentioning %q", err, tt.wantMsg)
			}
		})
	}

	t.Run("timeout is transient", func(t *testing.T) {
		srv := httptest.NewServer(exchange.VenueHandler(newVenue(t, exchange.VenueConfig{Latency: time.Hour})))
		defer srv.Close()
		c, _ := exchange.NewHTTP(srv.URL, 50*time.Millisecond)
		if err := c.Cancel(context.Background(), domain.NewID(t0)); err == nil || errors.Is(err, domain.ErrRejected) {
			t.Errorf("error = %v; want a transient timeout", err)
		}
	})

	t.Run("missing order is refused without a call", func(t *testing.T) {
		c, _ := exchange.NewHTTP("http://127.0.0.1:1", 5*time.Second)
		if err := c.Cancel(context.Background(), domain.ID{}); !errors.Is(err, domain.ErrRejected) {
			t.Errorf("error = %v; want a refusal", err)
		}
	})
}

func TestVenueHandlerServesCancelOrdersAndFlood(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{FillTime: time.Hour, CancelDelay: time.Hour})
	srv := httptest.NewServer(exchange.VenueHandler(v))
	defer srv.Close()
	c, err := exchange.NewHTTP(srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sell, buy := limitOrder(t), order(t)
	sell.ID = domain.NewID(time.Now())
	for _, o := range []domain.Order{sell, buy} {
		if err := c.Place(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	// Cancel: accepted, accepted again while pending, refused for an
	// unknown order with the venue's reason.
	for range 2 {
		if err := c.Cancel(ctx, sell.ID); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
	}
	err = c.Cancel(ctx, domain.NewID(time.Now()))
	if !errors.Is(err, domain.ErrRejected) || !contains(err.Error(), "unknown order") {
		t.Errorf("Cancel of an unknown order = %v; want a refusal naming the reason", err)
	}
	resp, err := http.Post(srv.URL+"/orders/not-an-id/cancel", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("cancel of a malformed ID answered %d; want 422", resp.StatusCode)
	}

	// GET /orders/{id}: the venue's record, exactly.
	getOrder := func(path string) (int, exchange.VenueOrder) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rec exchange.VenueOrder
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, rec
	}
	code, got := getOrder("/orders/" + sell.ID.String())
	want, _ := v.Order(sell.ID)
	if diff := cmp.Diff(want, got); code != http.StatusOK || diff != "" {
		t.Errorf("GET order answered %d (-venue +http):\n%s", code, diff)
	}
	if !got.CancelPending || got.LimitPrice == nil || *got.LimitPrice != 12_30 {
		t.Errorf("record %+v; want a pending cancel and the limit 12.30", got)
	}
	if code, _ := getOrder("/orders/" + domain.NewID(time.Now()).String()); code != http.StatusNotFound {
		t.Errorf("GET unknown order answered %d; want 404", code)
	}
	if code, _ := getOrder("/orders/nope"); code != http.StatusBadRequest {
		t.Errorf("GET malformed order ID answered %d; want 400", code)
	}

	// POST /flood fills what works.
	flood := func(body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/flood", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := flood(`{"per_order": 1, "rate": 0}`); code != http.StatusOK || m["fills"] != 2.0 {
		t.Errorf("flood answered %d %v; want 2 fills", code, m)
	}
	if code, _ := flood(`{"per_order": 0}`); code != http.StatusUnprocessableEntity {
		t.Errorf("flood of 0 per order answered %d; want 422", code)
	}
	if code, _ := flood(`{"per_order": 1, "extra": true}`); code != http.StatusBadRequest {
		t.Errorf("flood with an unknown field answered %d; want 400", code)
	}
	for _, o := range []domain.Order{sell, buy} {
		if _, rec := getOrder("/orders/" + o.ID.String()); rec.Status != domain.Filled {
			t.Errorf("order %s is %s after the flood; want filled", o.ID, rec.Status)
		}
	}

	resp, err = http.Get(srv.URL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats exchange.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v.Stats(), stats.VenueStats); diff != "" {
		t.Errorf("stats (-venue +http):\n%s", diff)
	}
	if stats.CancelsAccepted != 2 || stats.CancelsRefused != 1 || len(stats.Placements) != 2 {
		t.Errorf("stats %+v; want 2 cancels accepted, 1 refused, 2 placements", stats)
	}
}
