package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// spy counts the calls that reach the service, by account.
type spy struct {
	httpapi.Service
	mu    sync.Mutex
	calls map[domain.Account]int
}

func newSpy(svc httpapi.Service) *spy { return &spy{Service: svc, calls: map[domain.Account]int{}} }

func (s *spy) called(a domain.Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[a]++
}

// total is how many calls reached the service.
func (s *spy) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

func (s *spy) of(a domain.Account) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[a]
}

func (s *spy) PlaceOrder(ctx context.Context, a domain.Account, spec domain.Spec) (domain.Order, error) {
	s.called(a)
	return s.Service.PlaceOrder(ctx, a, spec)
}

func (s *spy) PlaceOrderOnce(ctx context.Context, a domain.Account, key domain.IdempotencyKey, spec domain.Spec) (domain.Order, bool, error) {
	s.called(a)
	return s.Service.PlaceOrderOnce(ctx, a, key, spec)
}

func (s *spy) Order(ctx context.Context, a domain.Account, id domain.ID) (domain.Order, error) {
	s.called(a)
	return s.Service.Order(ctx, a, id)
}

func (s *spy) CancelOrder(ctx context.Context, a domain.Account, id domain.ID) (domain.Order, error) {
	s.called(a)
	return s.Service.CancelOrder(ctx, a, id)
}

func (s *spy) ListOrders(ctx context.Context, a domain.Account, q ports.ListQuery) (app.Page, error) {
	s.called(a)
	return s.Service.ListOrders(ctx, a, q)
}

// server is the whole API (Handler, with its access log) over a real
// service and authenticator, with its JSON log.
type server struct {
	h    http.Handler
	svc  *spy
	keys *keyring
	logs *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the log's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newServer(t *testing.T, store ports.Orders, opts ...httpapi.Option) *server {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := newSpy(app.NewService(store, nil, clock{}, nil))
	kr := newKeyring(t)
	return &server{h: httpapi.Handler(svc, kr.auth, httpapi.Health{DB: pinger{}}, log, opts...), svc: svc, keys: kr, logs: logs}
}

// do sends a request with the Authorization header auth (none if empty)
// and, for POST, an order.
func (s *server) do(method, path, auth string) *httptest.ResponseRecorder {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"type":"market","side":"buy","instrument":"US0378331005","quantity":1}`)
	}
	req := httptest.NewRequest(method, path, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, req)
	return w
}

// orderOps are the order operations, each with a request that would
// succeed or answer 404 with a valid key.
var orderOps = []struct{ method, path string }{
	{http.MethodPost, "/orders"},
	{http.MethodGet, "/orders"},
	{http.MethodGet, "/orders/0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"},
	{http.MethodGet, "/orders/0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11/fills"},
	{http.MethodDelete, "/orders/0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"},
}

func TestOrderOperationsNeedAValidKey(t *testing.T) {
	s := newServer(t, memOrders())
	good, _ := s.keys.add(testAccount)
	revoked := s.keys.addRevoked(testAccount)
	unknown, _ := domain.NewAPIKey(testAccount, t0) // well-formed, never stored
	const (
		noKey      = `Bearer realm="ordergate"`
		badKey     = `Bearer realm="ordergate", error="invalid_token"`
		wellFormed = "og_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	)
	tests := []struct {
		name          string
		auth          string
		wantChallenge string
		secret        string // what the answer and the log must not show; "" for nothing
	}{
		{"no header", "", noKey, ""},
		{"Basic scheme", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", noKey, "YWxhZGRpbjpvcGVuc2VzYW1l"},
		{"Bearer alone", "Bearer", noKey, ""},
		{"Bearer and an empty key", "Bearer ", noKey, ""},
		{"key with a trailing space", "Bearer " + good + " ", badKey, good},
		{"key with a leading space", "Bearer  " + good, badKey, good},
		{"key with a tab", "Bearer " + good[:10] + "\t" + good[10:], badKey, good[10:]},
		{"two keys", "Bearer " + good + " " + good, badKey, good},
		{"10 KiB header", "Bearer " + strings.Repeat("A", 10<<10), badKey, strings.Repeat("A", 64)},
		{"10 KiB header of another scheme", "Basic " + strings.Repeat("A", 10<<10), noKey, strings.Repeat("A", 64)},
		{"malformed key", "Bearer og_not-a-key", badKey, "og_not-a-key"},
		{"key of another form", "Bearer " + strings.Repeat("x", 46), badKey, strings.Repeat("x", 46)},
		{"unknown key", "Bearer " + unknown, badKey, unknown},
		{"unknown key of the right form", "Bearer " + wellFormed, badKey, wellFormed},
		{"revoked key", "Bearer " + revoked, badKey, revoked},
	}
	for _, op := range orderOps {
		for _, tt := range tests {
			t.Run(op.method+" "+op.path+"/"+tt.name, func(t *testing.T) {
				before := s.svc.total()
				w := s.do(op.method, op.path, tt.auth)
				if w.Code != http.StatusUnauthorized {
					t.Fatalf("status = %d %s; want 401", w.Code, w.Body)
				}
				if got := w.Header().Values("WWW-Authenticate"); len(got) != 1 || got[0] != tt.wantChallenge {
					t.Errorf("WWW-Authenticate = %q; want %q", got, tt.wantChallenge)
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type = %q; want application/problem+json", ct)
				}
				var p problem
				if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
					t.Fatalf("body is not a problem document: %v: %s", err, w.Body)
				}
				if p.Title != "Unauthorized" || p.Status != http.StatusUnauthorized || p.Detail == "" {
					t.Errorf("problem = %+v; want title Unauthorized, status 401 and a detail", p)
				}
				if tt.secret != "" && strings.Contains(w.Body.String(), tt.secret) {
					t.Errorf("the answer repeats the key: %s", w.Body)
				}
				if n := s.svc.total() - before; n != 0 {
					t.Errorf("the service was called %d times; want never", n)
				}
			})
		}
	}
	logs := s.logs.String()
	for _, tt := range tests {
		if tt.secret != "" && strings.Contains(logs, tt.secret) {
			t.Errorf("%s: the log carries the key", tt.name)
		}
	}
	if strings.Contains(logs, `"key_id"`) {
		t.Errorf("a request that failed to authenticate is logged with a key_id:\n%s", logs)
	}

	t.Run("two Authorization headers", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		req.Header.Add("Authorization", "Bearer "+good)
		req.Header.Add("Authorization", "Bearer "+good)
		w := httptest.NewRecorder()
		s.h.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != badKey {
			t.Errorf("answer = %d with WWW-Authenticate %q; want 401, %q", w.Code, w.Header().Get("WWW-Authenticate"), badKey)
		}
	})
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	s := newServer(t, memOrders())
	key, _ := s.keys.add(testAccount)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		if w := s.do(http.MethodGet, "/orders", scheme+" "+key); w.Code != http.StatusOK {
			t.Errorf("GET /orders with %q = %d %s; want 200", scheme+" <key>", w.Code, w.Body)
		}
	}
}

func TestHealthNeedsNoKey(t *testing.T) {
	s := newServer(t, memOrders())
	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml", "/openapi.json", "/docs"} {
		for _, auth := range []string{"", "Bearer og_nonsense", "Basic x"} {
			if w := s.do(http.MethodGet, path, auth); w.Code != http.StatusOK {
				t.Errorf("GET %s with Authorization %q = %d; want 200", path, auth, w.Code)
			}
		}
	}
}

func TestAuthenticationStoreFailureIsTheContract500(t *testing.T) {
	s := newServer(t, memOrders())
	key, _ := s.keys.add(testAccount)
	s.keys.lookup.KeyByHashFunc = func(ctx context.Context, h domain.KeyHash) (domain.APIKey, error) {
		return domain.APIKey{}, errors.New("database is locked")
	}
	for _, op := range orderOps {
		w := s.do(op.method, op.path, "Bearer "+key)
		if w.Code != http.StatusInternalServerError || strings.TrimSpace(w.Body.String()) != `{"message":"Internal server error while placing the order"}` {
			t.Errorf("%s %s = %d %s; want the contract's 500", op.method, op.path, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type = %q; want application/json", op.method, op.path, ct)
		}
		if w.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("%s %s: a 500 carries a challenge", op.method, op.path)
		}
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "database is locked") {
		t.Errorf("the cause is not logged:\n%s", logs)
	}
	if strings.Contains(logs, key) {
		t.Errorf("the log carries the key:\n%s", logs)
	}
	if n := s.svc.total(); n != 0 {
		t.Errorf("the service was called %d times; want never", n)
	}
}

// TestAccountsSeeOnlyTheirOwnOrders holds CONTRACT §2.1: another account's
// order answers 404 exactly as an unknown one, and is never listed,
// canceled or read.
func TestAccountsSeeOnlyTheirOwnOrders(t *testing.T) {
	s := newServer(t, memOrders())
	keyA, _ := s.keys.add("alpha")
	keyB, _ := s.keys.add("bravo")
	a, b := "Bearer "+keyA, "Bearer "+keyB
	var ids []string
	for range 3 {
		w := s.do(http.MethodPost, "/orders", a)
		if w.Code != http.StatusCreated {
			t.Fatalf("A's POST = %d %s", w.Code, w.Body)
		}
		var o idOnly
		if err := json.Unmarshal(w.Body.Bytes(), &o); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	const unknown = "0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"
	for _, tt := range []struct{ method, suffix string }{
		{http.MethodGet, ""}, {http.MethodGet, "/fills"}, {http.MethodDelete, ""},
	} {
		got := s.do(tt.method, "/orders/"+ids[0]+tt.suffix, b)
		want := s.do(tt.method, "/orders/"+unknown+tt.suffix, b)
		if got.Code != http.StatusNotFound || got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("B's %s of A's order%s = %d %s; want exactly the unknown id's %d %s", tt.method, tt.suffix, got.Code, got.Body, want.Code, want.Body)
		}
	}
	// A's order is untouched by B's cancel.
	if w := s.do(http.MethodGet, "/orders/"+ids[0], a); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"status":"pending"`) {
		t.Errorf("A's GET after B's cancel = %d %s; want 200, still pending", w.Code, w.Body)
	}

	list := func(auth, query string) (orders []idOnly, next *string) {
		t.Helper()
		w := s.do(http.MethodGet, "/orders"+query, auth)
		if w.Code != http.StatusOK {
			t.Fatalf("GET /orders%s = %d %s", query, w.Code, w.Body)
		}
		var page struct {
			Orders     []idOnly `json:"orders"`
			NextCursor *string  `json:"next_cursor"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		return page.Orders, page.NextCursor
	}
	if orders, next := list(b, ""); len(orders) != 0 || next != nil {
		t.Errorf("B's list = %v, next %v; want empty", orders, next)
	}
	if orders, _ := list(a, ""); len(orders) != 3 {
		t.Errorf("A's list has %d orders; want 3", len(orders))
	}
	orders, cursor := list(a, "?limit=1")
	if len(orders) != 1 || cursor == nil {
		t.Fatalf("A's first page = %v, next %v; want one order and a cursor", orders, cursor)
	}
	if orders, next := list(b, "?limit=1&cursor="+*cursor); len(orders) != 0 || next != nil {
		t.Errorf("B's list with A's cursor = %v, next %v; want empty", orders, next)
	}
	if n := s.svc.of("bravo"); n == 0 {
		t.Error("B's requests never reached the service as B's")
	}
}

func TestRateLimitPerKey(t *testing.T) {
	s := newServer(t, memOrders(), httpapi.WithRateLimit(1, 2))
	keyA, _ := s.keys.add("alpha")
	keyB, _ := s.keys.add("bravo")
	for i := range 2 {
		if w := s.do(http.MethodGet, "/orders", "Bearer "+keyA); w.Code != http.StatusOK {
			t.Fatalf("A's request %d within the burst = %d %s", i+1, w.Code, w.Body)
		}
	}
	w := s.do(http.MethodGet, "/orders", "Bearer "+keyA)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("A's third request = %d %s; want 429", w.Code, w.Body)
	}
	if got := w.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q; want 1", got)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q; want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != http.StatusTooManyRequests || p.Title != "Too Many Requests" {
		t.Errorf("problem = %+v, %v; want status 429, title Too Many Requests", p, err)
	}
	if n := s.svc.of("alpha"); n != 2 {
		t.Errorf("A's calls to the service = %d; want 2 (the 429 is not served)", n)
	}
	// Another key at the same moment has its own bucket.
	if w := s.do(http.MethodPost, "/orders", "Bearer "+keyB); w.Code != http.StatusCreated {
		t.Errorf("B's request while A is limited = %d %s; want 201", w.Code, w.Body)
	}
	// Unauthenticated requests are refused as such, not limited, and
	// health endpoints are never limited.
	if w := s.do(http.MethodGet, "/orders", "Bearer "+keyA+"x"); w.Code != http.StatusUnauthorized {
		t.Errorf("a bad key while A is limited = %d; want 401", w.Code)
	}
	if w := s.do(http.MethodGet, "/healthz", "Bearer "+keyA); w.Code != http.StatusOK {
		t.Errorf("healthz with A's key = %d; want 200", w.Code)
	}
	if !strings.Contains(s.logs.String(), `"status":429`) {
		t.Errorf("the 429 is not in the access log:\n%s", s.logs.String())
	}

	t.Run("Retry-After follows the rate", func(t *testing.T) {
		s := newServer(t, memOrders(), httpapi.WithRateLimit(0.25, 1))
		key, _ := s.keys.add(testAccount)
		if w := s.do(http.MethodGet, "/orders", "Bearer "+key); w.Code != http.StatusOK {
			t.Fatalf("first request = %d", w.Code)
		}
		w := s.do(http.MethodGet, "/orders", "Bearer "+key)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "4" {
			t.Errorf("second request = %d with Retry-After %q; want 429, 4", w.Code, w.Header().Get("Retry-After"))
		}
	})
	t.Run("0 is off", func(t *testing.T) {
		s := newServer(t, memOrders(), httpapi.WithRateLimit(0, 0))
		key, _ := s.keys.add(testAccount)
		for i := range 50 {
			if w := s.do(http.MethodGet, "/orders", "Bearer "+key); w.Code != http.StatusOK {
				t.Fatalf("request %d = %d; want 200", i+1, w.Code)
			}
		}
	})
}

func TestAccessLogNamesTheKeyID(t *testing.T) {
	s := newServer(t, memOrders())
	key, k := s.keys.add(testAccount)
	for _, op := range orderOps {
		s.do(op.method, op.path, "Bearer "+key)
	}
	s.do(http.MethodGet, "/healthz", "Bearer "+key)
	logs := s.logs.String()
	if strings.Contains(logs, key) {
		t.Fatalf("the log carries the key:\n%s", logs)
	}
	lines := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] != "http request" {
			continue
		}
		lines++
		want := string(k.ID)
		if m["route"] == "/healthz" {
			want = "" // no operation there reads the key
		}
		if got, _ := m["key_id"].(string); got != want {
			t.Errorf("%v %v: key_id = %q; want %q", m["method"], m["route"], got, want)
		}
	}
	if lines != len(orderOps)+1 {
		t.Errorf("%d access log lines; want %d", lines, len(orderOps)+1)
	}
}
