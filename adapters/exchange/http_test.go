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

func TestHTTPClientAgainstTheSimulatorServer(t *testing.T) {
	sim := newSim(t, exchange.SimConfig{Rand: always(0.5)})
	srv := httptest.NewServer(exchange.SimHandler(sim))
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
		srv := httptest.NewServer(exchange.SimHandler(newSim(t, exchange.SimConfig{FailureRate: 1, Rand: always(0.5)})))
		defer srv.Close()
		c, _ := exchange.NewHTTP(srv.URL, 5*time.Second)
		if err := c.Place(context.Background(), limitOrder(t)); err == nil || errors.Is(err, domain.ErrRejected) {
			t.Errorf("error = %v; want a transient failure", err)
		}
	})

	t.Run("timeout is transient", func(t *testing.T) {
		srv := httptest.NewServer(exchange.SimHandler(newSim(t, exchange.SimConfig{Latency: time.Hour, Rand: always(0.5)})))
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
