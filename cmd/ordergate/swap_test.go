package main

import (
	"bytes"
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
// It returns the address it serves on, with a key of the account default
// that `ordergate keys create`, run in this process too, made first.
func startInProcess(tb testing.TB, args []string, extra ...fx.Option) target {
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
	key := inProcessKey(tb, c.DB)
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
	return target{base: "http://" + addr, key: key}
}

// inProcessKey runs `ordergate keys create --account default --db db` in
// this process and returns the key it prints.
func inProcessKey(tb testing.TB, db string) string {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	args := []string{"keys", "create", "--account", string(domain.DefaultAccount), "--db", db}
	if err := run(context.Background(), args, env(nil), &stdout, &stderr); err != nil {
		tb.Fatalf("ordergate keys create: %v\n%s", err, stderr.String())
	}
	if !keyLine.MatchString(stdout.String()) {
		tb.Fatalf("ordergate keys create printed %q; want one key alone on a line", stdout.String())
	}
	return strings.TrimSuffix(stdout.String(), "\n")
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
	api := startInProcess(t, nil, fx.Decorate(func(ports.Exchange) ports.Exchange { return exchange }))

	resp := api.do(t, http.MethodPost, "/orders", strings.NewReader(`{"type":"market","side":"sell","instrument":"US0378331005","quantity":2}`))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /orders = %d", resp.StatusCode)
	}
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/orders/")
	waitUntil(t, 10*time.Second, "the mock exchange to be called", func() bool { return placed.Load() == id })
	waitUntil(t, 10*time.Second, "the order to be placed", func() bool {
		r, err := api.send(http.DefaultClient, http.MethodGet, "/orders/"+id, nil)
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
