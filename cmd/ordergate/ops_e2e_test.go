package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// findLog returns the first log record for which match is true, or nil.
func (p *process) findLog(match func(rec map[string]any) bool) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rec := range p.logs {
		if match(rec) {
			return rec
		}
	}
	return nil
}

// scrape reads /metrics and parses it as Prometheus text.
func scrape(t *testing.T, p *process) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// metricValue returns the value of the series of family name whose labels
// include want: a counter's or gauge's value, a histogram's sample count.
func metricValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		matches := true
		for k, v := range want {
			if labels[k] != v {
				matches = false
			}
		}
		if !matches {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("/metrics has no %s series with labels %v", name, want)
	return 0
}

// TestEndToEndOperations checks what operators rely on, against the real
// binary after real traffic: /metrics moved with the traffic, one access log
// line per request carrying the request ID (the client's, or a generated
// one, echoed either way), a cancel's call and the feed's reports counted,
// the dispatcher's state changes logged at info,
// /docs served with its renderer from the binary, and the healthcheck
// sub-command.
func TestEndToEndOperations(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ops.db")
	p := start(t, "--db", db, "--sim-failure-rate", "0.3", "--sim-latency", "20ms", "--retry-base", "10ms", "--retry-max", "50ms")

	const n = 8
	body := `{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":12.5,"quantity":3}`
	var ids []string
	for i := 0; i < n; i++ {
		var header []string
		if i == 0 {
			header = []string{"X-Request-ID", "trace-abc-123"}
		}
		resp := p.do(t, http.MethodPost, "/orders", strings.NewReader(body), header...)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /orders = %d", resp.StatusCode)
		}
		rid := resp.Header.Get("X-Request-ID")
		if i == 0 && rid != "trace-abc-123" {
			t.Errorf("X-Request-ID echoed as %q; want the client's trace-abc-123", rid)
		}
		if i > 0 && len(rid) != 32 {
			t.Errorf("generated X-Request-ID %q; want 32 hex digits", rid)
		}
		ids = append(ids, strings.TrimPrefix(resp.Header.Get("Location"), "/orders/"))
	}
	resp := p.do(t, http.MethodPost, "/orders", strings.NewReader(`{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":12.5,"quantity":0}`))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("POST with quantity 0 = %d; want 422", resp.StatusCode)
	}
	waitUntil(t, 30*time.Second, "every order placed", func() bool {
		for _, id := range ids {
			if !acknowledged(getOrder(t, p, id).Status) {
				return false
			}
		}
		return true
	})

	// One is canceled: the cancel goes out once acknowledged, and the
	// venue's report of it comes back through the feed.
	if resp, err := p.target().send(http.DefaultClient, http.MethodDelete, "/orders/"+ids[0], nil); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE /orders/%s = %v, %v; want 202", ids[0], resp, err)
	} else {
		resp.Body.Close()
	}
	waitUntil(t, 30*time.Second, "the order canceled and every acknowledgement applied", func() bool {
		return getOrder(t, p, ids[0]).Status == "canceled" &&
			metricValue(t, scrape(t, p), "ordergate_execution_reports_applied_total", map[string]string{"result": "ack"}) == n
	})

	mfs := scrape(t, p)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   func(float64) bool
		says   string
	}{
		{"ordergate_orders_created_total", nil, func(v float64) bool { return v == n }, "== 8"},
		{"ordergate_http_requests_total", map[string]string{"method": "POST", "route": "/orders", "code": "201"}, func(v float64) bool { return v == n }, "== 8"},
		{"ordergate_http_requests_total", map[string]string{"method": "POST", "route": "/orders", "code": "422"}, func(v float64) bool { return v == 1 }, "== 1"},
		{"ordergate_http_request_duration_seconds", map[string]string{"method": "POST", "route": "/orders"}, func(v float64) bool { return v == n+1 }, "9 samples"},
		{"ordergate_http_requests_total", map[string]string{"method": "GET", "route": "/orders/{id}", "code": "200"}, func(v float64) bool { return v >= n }, ">= 8"},
		{"ordergate_placement_attempts_total", map[string]string{"outcome": "placed"}, func(v float64) bool { return v == n }, "== 8"},
		{"ordergate_placement_attempt_duration_seconds", map[string]string{"outcome": "placed"}, func(v float64) bool { return v == n }, "8 samples"},
		{"ordergate_placement_latency_seconds", nil, func(v float64) bool { return v == n }, "8 samples"},
		{"ordergate_outbox_depth", nil, func(v float64) bool { return v == 0 }, "== 0"},
		{"ordergate_outbox_oldest_pending_age_seconds", nil, func(v float64) bool { return v == 0 }, "== 0"},
		{"ordergate_exchange_circuit_state", map[string]string{"state": "closed"}, func(v float64) bool { return v == 1 }, "== 1"},
		{"ordergate_exchange_circuit_state", map[string]string{"state": "open"}, func(v float64) bool { return v == 0 }, "== 0"},
		{"ordergate_cancel_attempts_total", map[string]string{"outcome": "accepted"}, func(v float64) bool { return v == 1 }, "== 1"},
		{"ordergate_execution_reports_received_total", map[string]string{"kind": "ack"}, func(v float64) bool { return v >= n }, ">= 8"},
		{"ordergate_execution_reports_applied_total", map[string]string{"result": "canceled"}, func(v float64) bool { return v == 1 }, "== 1"},
		{"ordergate_execution_reports_applied_total", map[string]string{"result": "unknown"}, func(v float64) bool { return v == 0 }, "== 0"},
		{"ordergate_feed_lag_seconds", nil, func(v float64) bool { return v == n+1 }, "9 samples (8 acknowledgements, 1 cancel)"},
		{"ordergate_feed_events_total", map[string]string{"event": "gap"}, func(v float64) bool { return v == 0 }, "== 0"},
	} {
		if v := metricValue(t, mfs, c.name, c.labels); !c.want(v) {
			t.Errorf("%s%v = %v; want %s", c.name, c.labels, v, c.says)
		}
	}
	// At 30 % failures, 8 orders see some failed attempts with high odds,
	// but not always: the counter must exist and be consistent with the
	// orders' own attempt counts.
	failed := metricValue(t, mfs, "ordergate_placement_attempts_total", map[string]string{"outcome": "failed"})
	attempts := 0
	for _, id := range ids {
		attempts += getOrder(t, p, id).PlacementAttempts
	}
	if int(failed)+n != attempts {
		t.Errorf("failed attempts %v + %d placed != %d attempts recorded on the orders", failed, n, attempts)
	}

	access := p.findLog(func(rec map[string]any) bool {
		return rec["msg"] == "http request" && rec["request_id"] == "trace-abc-123"
	})
	if access == nil {
		t.Fatal("no access log line with request_id trace-abc-123")
	}
	if access["route"] != "/orders" || access["method"] != "POST" || access["status"] != float64(201) || access["duration"] == nil {
		t.Errorf("access log line = %v; want route /orders, method POST, status 201 and a duration", access)
	}
	placed := p.findLog(func(rec map[string]any) bool {
		return rec["msg"] == "order placed" && rec["order_id"] == ids[0]
	})
	if placed == nil || placed["level"] != "INFO" || placed["status"] != "placed" {
		t.Errorf("dispatcher log for placing %s = %v; want an INFO line with status placed", ids[0], placed)
	}

	resp, err := http.Get(p.url("/docs"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The page loads Stoplight Elements from the binary and nothing from
	// the internet; adapters/httpapi's browser test checks what it renders.
	script := regexp.MustCompile(`<script src="(/docs/assets/[0-9a-f]{12}/web-components\.min\.js)"></script>`).FindStringSubmatch(string(page))
	if script == nil || strings.Contains(string(page), "://") {
		t.Fatalf("/docs does not load its renderer from the server alone:\n%s", page)
	}
	resp, err = http.Get(p.url(script[1]))
	if err != nil {
		t.Fatal(err)
	}
	size, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || size < 100_000 {
		t.Errorf("GET %s = %d, %d bytes; want the embedded renderer", script[1], resp.StatusCode, size)
	}

	ctx := context.Background()
	if err := run(ctx, []string{"healthcheck", "--addr", p.addr}, env(nil), io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck against a serving instance: %v", err)
	}
	_, port, _ := net.SplitHostPort(p.addr)
	if err := run(ctx, []string{"healthcheck", "--addr", "0.0.0.0:" + port}, env(nil), io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck with a wildcard --addr: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if err := run(ctx, []string{"healthcheck", "--addr", closed}, env(nil), io.Discard, io.Discard); err == nil {
		t.Error("healthcheck against a closed port succeeded")
	}
}
