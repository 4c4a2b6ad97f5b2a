package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

// startInProcess starts the whole fx application in this process on a free
// loopback port and a fresh SQLite file (args may name another --db, and
// any other flag), with extra options applied, and stops it when tb ends.
// It returns the address it serves on.
func startInProcess(tb testing.TB, args []string, extra ...fx.Option) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args = append([]string{"--addr", addr, "--db", filepath.Join(tb.TempDir(), "inprocess.db")}, args...)
	c, err := parseConfig("ordergate", args, env(nil), io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	app := newApp(c, slog.New(slog.NewJSONHandler(io.Discard, nil)), extra...)
	if err := app.Err(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			tb.Error(err)
		}
	})
	return addr
}

// TestFullAppWithTheExchangeSwappedForAMock runs the whole fx application
// (store, HTTP API, dispatcher, metrics) with one adapter replaced by a moq
// mock through fx.Decorate: the way to test a real wiring against a fake
// exchange. An order POSTed over HTTP reaches the mock and ends placed.
func TestFullAppWithTheExchangeSwappedForAMock(t *testing.T) {
	var placed atomic.Value
	exchange := &mocks.ExchangeMock{PlaceFunc: func(ctx context.Context, o domain.Order) error {
		placed.Store(o.ID.String())
		return nil
	}}
	addr := startInProcess(t, nil, fx.Decorate(func(ports.Exchange) ports.Exchange { return exchange }))

	resp, err := http.Post("http://"+addr+"/orders", "application/json",
		strings.NewReader(`{"type":"market","side":"sell","instrument":"US0378331005","quantity":2}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders = %d", resp.StatusCode)
	}
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/orders/")
	waitUntil(t, 10*time.Second, "the mock exchange to be called", func() bool { return placed.Load() == id })
	waitUntil(t, 10*time.Second, "the order to be placed", func() bool {
		r, err := http.Get("http://" + addr + "/orders/" + id)
		if err != nil {
			return false
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return strings.Contains(string(b), `"status":"placed"`) // the mock sends no fills
	})
	if n := len(exchange.PlaceCalls()); n != 1 {
		t.Errorf("mock exchange called %d times; want 1", n)
	}
}
