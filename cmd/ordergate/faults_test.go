package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
)

const internalBody = `{"message":"Internal server error while placing the order"}`

// postRaw sends one order and returns the status and body.
func postRaw(t *testing.T, p *process) (int, string) {
	t.Helper()
	resp := p.do(t, http.MethodPost, "/orders", strings.NewReader(`{"type":"market","side":"buy","instrument":"US0378331005","quantity":1}`))
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 500 && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("500 Content-Type = %q; want application/json", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func status(t *testing.T, p *process, path string) int {
	t.Helper()
	resp, err := http.Get(p.url(path))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// rowCounts returns how many orders and jobs the database holds.
func rowCounts(t *testing.T, dsn string) (orders, jobs int) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Bun().NewRaw("SELECT count(*) FROM orders").Scan(ctx, &orders); err != nil {
		t.Fatal(err)
	}
	if err := db.Bun().NewRaw("SELECT count(*) FROM jobs").Scan(ctx, &jobs); err != nil {
		t.Fatal(err)
	}
	return orders, jobs
}

// TestFaultsSQLiteTableGone breaks the schema under a running server: every
// POST answers the contract's 500 and writes nothing, and service comes back
// by itself once the table does.
func TestFaultsSQLiteTableGone(t *testing.T) {
	db := storetest.SQLitePath(t)
	// A failing exchange keeps every job in the table, so counts compare.
	p := start(t, "--db", db, "--sim-failure-rate", "1")
	if code, body := postRaw(t, p); code != 201 {
		t.Fatalf("POST before the fault = %d %s", code, body)
	}
	ctx := context.Background()
	admin, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Bun().ExecContext(ctx, "ALTER TABLE orders RENAME TO orders_gone"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if code, body := postRaw(t, p); code != 500 || body != internalBody {
			t.Errorf("POST with the table gone = %d %s; want 500 %s", code, body, internalBody)
		}
	}
	var jobs int
	if err := admin.Bun().NewRaw("SELECT count(*) FROM jobs").Scan(ctx, &jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 {
		t.Errorf("jobs = %d during the fault; want 1: a failed POST wrote a job", jobs)
	}
	if _, err := admin.Bun().ExecContext(ctx, "ALTER TABLE orders_gone RENAME TO orders"); err != nil {
		t.Fatal(err)
	}
	if code, body := postRaw(t, p); code != 201 {
		t.Errorf("POST after the table is back = %d %s; want 201", code, body)
	}
	p.stop()
	if o, j := rowCounts(t, db); o != 2 || j != 2 {
		t.Errorf("after the fault: %d orders, %d jobs; want 2 and 2 (the two 201s)", o, j)
	}
}

// proxy forwards TCP to a backend until cut, as a network partition would.
type proxy struct {
	t       *testing.T
	addr    string
	backend string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newProxy(t *testing.T, backend string) *proxy {
	t.Helper()
	p := &proxy{t: t, backend: backend}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			go func() { _, _ = io.Copy(c, b); c.Close() }()
		}
	}()
}

// cut refuses new connections and drops the open ones.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore accepts connections again on the same address.
func (p *proxy) restore() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// TestFaultsPostgresUnreachable cuts the network between a running server
// and PostgreSQL: POST answers the contract's 500, /readyz 503, and both
// recover by themselves when the database is reachable again.
func TestFaultsPostgresUnreachable(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	p := start(t, "--db", u.String(), "--sim-failure-rate", "1")
	if code, body := postRaw(t, p); code != 201 {
		t.Fatalf("POST before the fault = %d %s", code, body)
	}

	px.cut()
	for range 5 {
		if code, body := postRaw(t, p); code != 500 || body != internalBody {
			t.Errorf("POST with the database unreachable = %d %s; want 500 %s", code, body, internalBody)
		}
	}
	if code := status(t, p, "/readyz"); code != 503 {
		t.Errorf("/readyz with the database unreachable = %d; want 503", code)
	}
	if code := status(t, p, "/healthz"); code != 200 {
		t.Errorf("/healthz with the database unreachable = %d; want 200", code)
	}

	px.restore()
	waitUntil(t, 30*time.Second, "/readyz to recover", func() bool { return status(t, p, "/readyz") == 200 })
	waitUntil(t, 30*time.Second, "POST to recover", func() bool { code, _ := postRaw(t, p); return code == 201 })
	p.stop()
	o, j := rowCounts(t, dsn)
	if o != j {
		t.Errorf("%d orders but %d jobs: something was half-written", o, j)
	}
	t.Logf("after the partition: %d orders, %d jobs (every order has its job)", o, j)
}
