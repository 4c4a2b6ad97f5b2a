package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/domain"
)

// syncBuffer is the command's standard error, written by it and read by
// the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the command on a loopback port until the test ends, and
// returns its base URL once it listens.
func start(t *testing.T, args []string, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not stop")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				return "http://" + line.Addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before listening: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServesTheVenueAndItsFeed(t *testing.T) {
	base := start(t, []string{"--failure-rate", "0", "--latency", "0s", "--fill-time", "5ms", "--price", "42.50"},
		map[string]string{"EXCHANGE_SIM_CANCEL_DELAY": "1ms", "EXCHANGE_SIM_FEED_DISCONNECT_EVERY": "100"})
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz answered %d", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := exchange.NewHTTP(base, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	o, err := domain.New(domain.NewID(time.Now()), time.Now(), domain.Spec{Type: domain.Market, Side: domain.Buy, Instrument: "US0378331005", Quantity: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Place(ctx, o); err != nil {
		t.Fatal(err)
	}
	f, err := exchange.NewWSFeed(base)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := f.Subscribe(ctx, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var cum int64
	for cum < 3 {
		r, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.OrderID != o.ID {
			t.Fatalf("report about %s; want %s", r.OrderID, o.ID)
		}
		if r.LastQty > 0 && r.LastPrice != 42_50 {
			t.Errorf("fill at %s; want the --price 42.50", r.LastPrice)
		}
		cum = r.CumQty
	}

	resp, err = http.Get(base + "/orders/" + o.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec exchange.VenueOrder
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != domain.Filled || rec.CumQty != 3 {
		t.Errorf("venue record %+v; want filled", rec)
	}
}

func TestRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"price of zero", []string{"--price", "0"}, nil, "price"},
		{"price of three decimals", nil, map[string]string{"EXCHANGE_SIM_PRICE": "1.234"}, "EXCHANGE_SIM_PRICE"},
		{"failure rate above 1", []string{"--failure-rate", "1.5"}, nil, "FailureRate"},
		{"negative fill time", []string{"--fill-time", "-1s"}, nil, "FillTime"},
		{"keep of zero", []string{"--keep", "0"}, nil, "keep"},
		{"drop everything", []string{"--feed-drop", "1"}, nil, "Drop"},
		{"negative reorder", nil, map[string]string{"EXCHANGE_SIM_FEED_REORDER": "-2"}, "Reorder"},
		{"stray argument", []string{"serve"}, nil, "serve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"--addr", "127.0.0.1:0"}, tt.args...), func(k string) string { return tt.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v; want an error naming %s", err, tt.want)
			}
		})
	}
}
