package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
)

type observed struct {
	method, route string
	status        int
}

type recorder struct {
	mu   sync.Mutex
	seen []observed
}

func (r *recorder) ObserveRequest(method, route string, status int, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, observed{method, route, status})
}

func TestRequestIDAccessLogAndObserver(t *testing.T) {
	store := memOrders()
	fail := false
	inner := store.CreateFunc
	store.CreateFunc = func(ctx context.Context, o domain.Order) error {
		if fail {
			return errors.New("disk I/O error")
		}
		return inner(ctx, o)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	rec := &recorder{}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("# metrics\n")) })
	kr := newKeyring(t)
	key, k := kr.add(testAccount)
	h := httpapi.Handler(app.NewService(store, nil, clock{}, nil), kr.auth, httpapi.Health{DB: pinger{}}, log, httpapi.WithMetrics(metrics, rec))
	body := `{"type":"market","side":"buy","instrument":"US0378331005","quantity":1}`

	tests := []struct {
		name, method, path, sentID string
		auth                       string // the Authorization header, if any
		fail                       bool
		wantStatus                 int
		wantRoute                  string
		wantID                     func(string) bool
		wantKeyID                  string // the access log's key_id; "" for none
	}{
		{"client id honoured", "POST", "/orders", "req-42.a:b", "Bearer " + key, false, 201, "/orders", func(id string) bool { return id == "req-42.a:b" }, string(k.ID)},
		{"no id: one generated", "GET", "/orders/0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11", "", "Bearer " + key, false, 404, "/orders/{id}", func(id string) bool { return len(id) == 32 }, string(k.ID)},
		{"no key: 401 without key_id", "GET", "/orders", "", "", false, 401, "/orders", func(id string) bool { return len(id) == 32 }, ""},
		{"key with a trailing space: 401 without key_id", "GET", "/orders", "", "Bearer " + key + " ", false, 401, "/orders", func(id string) bool { return len(id) == 32 }, ""},
		{"id with a space replaced", "GET", "/healthz", "two words", "", false, 200, "/healthz", func(id string) bool { return len(id) == 32 }, ""},
		{"id too long replaced", "GET", "/healthz", strings.Repeat("x", 129), "", false, 200, "/healthz", func(id string) bool { return len(id) == 32 }, ""},
		{"unknown path", "GET", "/nope", "", "", false, 404, "unmatched", func(id string) bool { return len(id) == 32 }, ""},
		{"metrics served", "GET", "/metrics", "", "", false, 200, "/metrics", func(id string) bool { return len(id) == 32 }, ""},
		{"500 logged with the request id", "POST", "/orders", "trace-500", "Bearer " + key, true, 500, "/orders", func(id string) bool { return id == "trace-500" }, string(k.ID)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			fail = tt.fail
			var req *http.Request
			if tt.method == "POST" {
				req = httptest.NewRequest(tt.method, tt.path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
			} else {
				req = httptest.NewRequest(tt.method, tt.path, nil)
			}
			if tt.sentID != "" {
				req.Header.Set("X-Request-ID", tt.sentID)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			id := w.Header().Get("X-Request-ID")
			if w.Code != tt.wantStatus || !tt.wantID(id) {
				t.Fatalf("answer %d with X-Request-ID %q; want %d and a fitting id", w.Code, id, tt.wantStatus)
			}
			if strings.Contains(logs.String(), key) {
				t.Errorf("the log carries the API key:\n%s", logs.String())
			}
			var access map[string]any
			lines := 0
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if m["msg"] == "http request" {
					access, lines = m, lines+1
				}
				if m["msg"] == "request failed" && m["request_id"] != id {
					t.Errorf("500's log line has request_id %v; want %q", m["request_id"], id)
				}
			}
			if lines != 1 {
				t.Fatalf("%d access log lines; want 1:\n%s", lines, logs.String())
			}
			if got, _ := access["key_id"].(string); got != tt.wantKeyID {
				t.Errorf("access log key_id = %q; want %q", got, tt.wantKeyID)
			}
			if access["request_id"] != id || access["route"] != tt.wantRoute || access["status"] != float64(tt.wantStatus) || access["method"] != tt.method || access["path"] != tt.path {
				t.Errorf("access log = %v; want request_id %q, route %q, status %d", access, id, tt.wantRoute, tt.wantStatus)
			}
			if tt.fail && !strings.Contains(logs.String(), "disk I/O error") {
				t.Errorf("the 500's cause is not logged: %s", logs.String())
			}
			last := rec.seen[len(rec.seen)-1]
			if last != (observed{tt.method, tt.wantRoute, tt.wantStatus}) {
				t.Errorf("observer saw %+v; want %s %s %d", last, tt.method, tt.wantRoute, tt.wantStatus)
			}
		})
	}
}
