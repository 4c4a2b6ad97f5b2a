package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2/sse"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
)

// fakeStream is an app.EventStream the test feeds: send delivers an event,
// end closes it with an error.
type fakeStream struct {
	ch     chan *domain.OrderEvent
	mu     sync.Mutex
	err    error
	ended  bool
	closed chan struct{}
	once   sync.Once
}

func newFakeStream() *fakeStream {
	return &fakeStream{ch: make(chan *domain.OrderEvent), closed: make(chan struct{})}
}

func (s *fakeStream) Events() <-chan *domain.OrderEvent { return s.ch }

func (s *fakeStream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *fakeStream) Close() { s.once.Do(func() { close(s.closed) }) }

// waitClosed waits until the handler has closed the stream.
func (s *fakeStream) waitClosed(t *testing.T) {
	t.Helper()
	waitFor(t, "the stream closed", func() bool {
		select {
		case <-s.closed:
			return true
		default:
			return false
		}
	})
}

// send hands e to the stream's reader, failing the test if it is not read
// in time.
func (s *fakeStream) send(t *testing.T, e domain.OrderEvent) {
	t.Helper()
	select {
	case s.ch <- &e:
	case <-time.After(5 * time.Second):
		t.Fatalf("event %d not taken from the stream", e.ID)
	}
}

// end closes the stream's channel with err.
func (s *fakeStream) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.err, s.ended = err, true
		close(s.ch)
	}
}

// subscribeCall is one call of fakeStreamer.Subscribe.
type subscribeCall struct {
	account domain.Account
	after   domain.EventID
}

// fakeStreamer hands out fakeStreams, or fails with err.
type fakeStreamer struct {
	mu      sync.Mutex
	err     error
	calls   []subscribeCall
	streams chan *fakeStream
}

func newFakeStreamer() *fakeStreamer { return &fakeStreamer{streams: make(chan *fakeStream, 16)} }

func (f *fakeStreamer) Subscribe(ctx context.Context, account domain.Account, after domain.EventID) (app.EventStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, subscribeCall{account, after})
	if f.err != nil {
		return nil, f.err
	}
	s := newFakeStream()
	f.streams <- s
	return s, nil
}

func (f *fakeStreamer) subscribed() []subscribeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]subscribeCall(nil), f.calls...)
}

// next returns the stream handed out next.
func (f *fakeStreamer) next(t *testing.T) *fakeStream {
	t.Helper()
	select {
	case s := <-f.streams:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no subscription")
		return nil
	}
}

var _ httpapi.Streamer = (*fakeStreamer)(nil)

// streamServer is the whole HTTP API (Handler: access log, metrics
// observer, recovery, auth, rate limit) on a real HTTP server, streaming
// from a fakeStreamer.
type streamServer struct {
	url      string
	key      string
	keys     *keyring
	streamer *fakeStreamer
	logs     *syncBuffer
	handled  chan struct{} // receives once per request the handler is done with
}

func newStreamServer(t *testing.T, opts ...httpapi.Option) *streamServer {
	t.Helper()
	return newStreamServerTimeout(t, 30*time.Second, opts...) // cmd/ordergate's WriteTimeout
}

// newStreamServerTimeout is newStreamServer on a server whose WriteTimeout
// is writeTimeout.
func newStreamServerTimeout(t *testing.T, writeTimeout time.Duration, opts ...httpapi.Option) *streamServer {
	t.Helper()
	s := &streamServer{keys: newKeyring(t), streamer: newFakeStreamer(), logs: &syncBuffer{}, handled: make(chan struct{}, 64)}
	s.key, _ = s.keys.add(testAccount)
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := app.NewService(memOrders(), nil, clock{}, nil)
	opts = append([]httpapi.Option{
		httpapi.WithEvents(s.streamer),
		httpapi.WithRateLimit(1000, 2000),
		httpapi.WithMetrics(http.NotFoundHandler(), &recorder{}),
	}, opts...)
	h := httpapi.Handler(svc, s.keys.auth, httpapi.Health{DB: pinger{}}, log, opts...)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { s.handled <- struct{}{} }()
		h.ServeHTTP(w, r)
	}))
	srv.Config.WriteTimeout = writeTimeout
	srv.Start()
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// open sends GET path with key (the server's if empty) and header lines
// "Name: value", and returns the response; the body is closed at cleanup.
func (s *streamServer) open(t *testing.T, path, key string, headers ...string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key == "" {
		key = s.key
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/event-stream")
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// sseReader reads an event stream in a goroutine, one message (the lines
// up to a blank line) at a time.
type sseReader struct {
	msgs chan string
	done chan error // the read's end: io.EOF or an error
}

func readSSE(body io.Reader) *sseReader {
	r := &sseReader{msgs: make(chan string, 64), done: make(chan error, 1)}
	go func() {
		br := bufio.NewReader(body)
		var msg strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				r.done <- err
				close(r.msgs)
				return
			}
			msg.WriteString(line)
			if line == "\n" {
				r.msgs <- msg.String()
				msg.Reset()
			}
		}
	}()
	return r
}

// next returns the next message, raw, failing the test if none comes in
// time.
func (r *sseReader) next(t *testing.T) string {
	t.Helper()
	select {
	case m, ok := <-r.msgs:
		if !ok {
			t.Fatalf("stream ended: %v", <-r.done)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5 s")
		return ""
	}
}

// nextEvent returns the next message that is not a comment.
func (r *sseReader) nextEvent(t *testing.T) string {
	t.Helper()
	for {
		if m := r.next(t); !strings.HasPrefix(m, ":") {
			return m
		}
	}
}

// ended waits for the stream to end, with what remains unread.
func (r *sseReader) ended(t *testing.T) error {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-r.msgs:
			if !ok {
				return <-r.done
			}
		case <-deadline:
			t.Fatal("stream still open after 5 s")
			return nil
		}
	}
}

// wire is an event as the stream must write it.
func wire(t *testing.T, e domain.OrderEvent) string {
	t.Helper()
	b, err := httpapi.EventJSON(e)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b)
}

func TestStreamEventsWireFormat(t *testing.T) {
	s := newStreamServer(t)
	resp := s.open(t, "/events", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d; want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q; want text/event-stream", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", cc)
	}
	stream := s.streamer.next(t)
	r := readSSE(resp.Body)
	if m := r.next(t); m != ": stream open\n\n" {
		t.Errorf("first message = %q; want the comment that opens the stream", m)
	}
	o := stored(t, domain.PartiallyFilled, fill(t, "s1-17", 4, "100.00", 1))
	created := o
	created.Status, created.Fills = domain.Pending, nil
	created.Account = testAccount
	evs := []domain.OrderEvent{
		anEvent(41, domain.EventCreated, created, nil),
		anEvent(42, domain.EventPartiallyFilled, o, &o.Fills[0]),
	}
	for _, e := range evs {
		stream.send(t, e)
		// Each event arrives while the stream is open: it was flushed
		// through the access log, recovery, auth and the rate limit.
		if got, want := r.nextEvent(t), wire(t, e); got != want {
			t.Errorf("message =\n%q\nwant\n%q", got, want)
		}
	}
	select {
	case <-s.handled:
		t.Fatal("the handler returned while the stream was open")
	default:
	}
	stream.end(nil)
	if err := r.ended(t); !errors.Is(err, io.EOF) {
		t.Errorf("stream ended with %v; want EOF", err)
	}
}

func TestStreamEventsResumePoint(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		headers []string
		want    domain.EventID
	}{
		{"none: from the oldest kept", "/events", nil, 0},
		{"after", "/events?after=17", nil, 17},
		{"Last-Event-ID", "/events", []string{"Last-Event-ID: 23"}, 23},
		{"Last-Event-ID wins over after", "/events?after=17", []string{"Last-Event-ID: 23"}, 23},
		{"after 0", "/events?after=0", nil, 0},
		{"largest", "/events?after=9223372036854775807", nil, 9223372036854775807},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStreamServer(t)
			resp := s.open(t, tt.path, "", tt.headers...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d; want 200", resp.StatusCode)
			}
			s.streamer.next(t)
			calls := s.streamer.subscribed()
			if len(calls) != 1 || calls[0] != (subscribeCall{testAccount, tt.want}) {
				t.Errorf("Subscribe calls = %+v; want one for %s after %d", calls, testAccount, tt.want)
			}
		})
	}
}

func TestStreamEventsRefusesABadResumePoint(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		headers []string
		wantLoc string
	}{
		{"negative after", "/events?after=-1", nil, "query.after"},
		{"after not a number", "/events?after=abc", nil, "query.after"},
		{"after with a fraction", "/events?after=1.5", nil, "query.after"},
		{"after with a sign", "/events?after=%2B1", nil, "query.after"},
		{"after too large", "/events?after=9223372036854775808", nil, "query.after"},
		{"bad Last-Event-ID", "/events", []string{"Last-Event-ID: x1"}, "header.Last-Event-ID"},
		{"bad Last-Event-ID, good after", "/events?after=3", []string{"Last-Event-ID: -4"}, "header.Last-Event-ID"},
		{"good Last-Event-ID, bad after", "/events?after=z", []string{"Last-Event-ID: 4"}, "query.after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStreamServer(t)
			resp := s.open(t, tt.path, "", tt.headers...)
			p := problemFrom(t, resp)
			if resp.StatusCode != http.StatusBadRequest || p.Status != http.StatusBadRequest {
				t.Fatalf("status = %d %+v; want 400", resp.StatusCode, p)
			}
			if len(p.Errors) != 1 || p.Errors[0].Location != tt.wantLoc {
				t.Errorf("errors = %+v; want one at %s", p.Errors, tt.wantLoc)
			}
			if calls := s.streamer.subscribed(); len(calls) != 0 {
				t.Errorf("Subscribe calls = %+v; want none", calls)
			}
		})
	}
}

// problemFrom decodes a real server's problem document.
func problemFrom(t *testing.T, resp *http.Response) problem {
	t.Helper()
	rec := httptest.NewRecorder()
	for k, v := range resp.Header {
		rec.Header()[k] = v
	}
	rec.Code = resp.StatusCode
	if _, err := io.Copy(rec.Body, resp.Body); err != nil {
		t.Fatal(err)
	}
	return problemOf(t, rec)
}

func TestStreamEventsGone(t *testing.T) {
	s := newStreamServer(t)
	s.streamer.err = fmt.Errorf("hub: read events after 3: %w", domain.ErrEventsGone)
	resp := s.open(t, "/events", "", "Last-Event-ID: 3")
	p := problemFrom(t, resp)
	if resp.StatusCode != http.StatusGone || p.Status != http.StatusGone || p.Title != "Gone" {
		t.Fatalf("status = %d %+v; want 410 Gone", resp.StatusCode, p)
	}
	if !strings.Contains(p.Detail, "no longer kept") {
		t.Errorf("detail = %q; want it to say the events are no longer kept", p.Detail)
	}
}

func TestStreamEventsWithoutStreamer(t *testing.T) {
	s := newStreamServer(t, httpapi.WithEvents(nil))
	resp := s.open(t, "/events", "")
	if p := problemFrom(t, resp); resp.StatusCode != http.StatusServiceUnavailable || p.Status != http.StatusServiceUnavailable {
		t.Fatalf("status = %d %+v; want 503", resp.StatusCode, p)
	}
}

func TestStreamEventsSubscribeFailureIsTheContract500(t *testing.T) {
	s := newStreamServer(t)
	s.streamer.err = errors.New("database down")
	resp := s.open(t, "/events", "")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || string(body) != `{"message":"Internal server error while placing the order"}`+"\n" {
		t.Errorf("answer = %d %q; want the contract's 500", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "database down") || !strings.Contains(s.logs.String(), "database down") {
		t.Errorf("the cause must be logged, not sent: body %q", body)
	}
}

func TestStreamEventsKeepAlive(t *testing.T) {
	s := newStreamServer(t, httpapi.WithStreamKeepAlive(20*time.Millisecond))
	resp := s.open(t, "/events", "")
	stream := s.streamer.next(t)
	r := readSSE(resp.Body)
	r.next(t) // the comment that opens the stream
	for range 3 {
		if m := r.next(t); m != ": keep-alive\n\n" {
			t.Fatalf("message on an idle stream = %q; want a keep-alive comment", m)
		}
	}
	// An event in between, then the stream is idle again.
	e := anEvent(5, domain.EventPlaced, stored(t, domain.Placed), nil)
	stream.send(t, e)
	if got := r.nextEvent(t); got != wire(t, e) {
		t.Errorf("event = %q; want %q", got, wire(t, e))
	}
	if m := r.next(t); m != ": keep-alive\n\n" {
		t.Errorf("message = %q; want a keep-alive comment", m)
	}
}

// TestStreamEventsOutlivesTheServersWriteTimeout: each write sets its own
// deadline, so a stream lasts longer than the server's WriteTimeout, which
// otherwise ends a response that long after the request was read.
func TestStreamEventsOutlivesTheServersWriteTimeout(t *testing.T) {
	const writeTimeout = 100 * time.Millisecond
	s := newStreamServerTimeout(t, writeTimeout, httpapi.WithStreamKeepAlive(10*time.Millisecond))
	start := time.Now()
	resp := s.open(t, "/events", "")
	stream := s.streamer.next(t)
	r := readSSE(resp.Body)
	for time.Since(start) < 5*writeTimeout {
		if m := r.next(t); !strings.HasPrefix(m, ":") {
			t.Fatalf("message = %q; want comments only", m)
		}
	}
	e := anEvent(5, domain.EventPlaced, stored(t, domain.Placed), nil)
	stream.send(t, e)
	if got := r.nextEvent(t); got != wire(t, e) {
		t.Errorf("event after %v = %q; want %q", time.Since(start), got, wire(t, e))
	}
}

func TestStreamEventsEndsWithTheEventStream(t *testing.T) {
	s := newStreamServer(t)
	resp := s.open(t, "/events", "")
	stream := s.streamer.next(t)
	r := readSSE(resp.Body)
	r.next(t)
	stream.end(app.ErrStreamTooSlow)
	if err := r.ended(t); !errors.Is(err, io.EOF) {
		t.Errorf("stream ended with %v; want EOF", err)
	}
	stream.waitClosed(t)
	waitFor(t, "the too-slow client logged at info", func() bool {
		return strings.Contains(s.logs.String(), `level=INFO msg="event stream client too slow: disconnected"`)
	})
}

func TestStreamEventsEndsWhenTheClientGoesAway(t *testing.T) {
	s := newStreamServer(t)
	resp := s.open(t, "/events", "")
	stream := s.streamer.next(t)
	r := readSSE(resp.Body)
	r.next(t)
	_ = resp.Body.Close()
	select {
	case <-stream.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription is still open after the client went away")
	}
	select {
	case <-s.handled:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still runs after the client went away")
	}
}

func TestStreamEventsEndsOnShutdown(t *testing.T) {
	done := make(chan struct{})
	s := newStreamServer(t, httpapi.WithShutdown(done))
	resp := s.open(t, "/events", "")
	stream := s.streamer.next(t)
	r := readSSE(resp.Body)
	r.next(t)
	close(done)
	if err := r.ended(t); !errors.Is(err, io.EOF) {
		t.Errorf("stream ended with %v; want EOF", err)
	}
	stream.waitClosed(t)
}

func TestStreamEventsSubscribesTheKeysAccount(t *testing.T) {
	s := newStreamServer(t)
	other, _ := s.keys.add("globex")
	resp := s.open(t, "/events?after=9", other)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d; want 200", resp.StatusCode)
	}
	stream := s.streamer.next(t)
	if calls := s.streamer.subscribed(); len(calls) != 1 || calls[0] != (subscribeCall{"globex", 9}) {
		t.Errorf("Subscribe calls = %+v; want one for globex after 9", calls)
	}
	// Should the hub hand out another account's event, it is not sent.
	mine, theirs := stored(t, domain.Placed), stored(t, domain.Placed)
	mine.Account = "globex"
	r := readSSE(resp.Body)
	stream.send(t, anEvent(10, domain.EventPlaced, theirs, nil))
	stream.send(t, anEvent(11, domain.EventPlaced, mine, nil))
	if got, want := r.nextEvent(t), wire(t, anEvent(11, domain.EventPlaced, mine, nil)); got != want {
		t.Errorf("first event = %q; want globex's %q", got, want)
	}
	for _, key := range []string{"og_unknown", s.keys.addRevoked(testAccount)} {
		resp := s.open(t, "/events", key)
		if p := problemFrom(t, resp); resp.StatusCode != http.StatusUnauthorized || p.Status != http.StatusUnauthorized {
			t.Errorf("status = %d; want 401", resp.StatusCode)
		}
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	}
	if calls := s.streamer.subscribed(); len(calls) != 1 {
		t.Errorf("Subscribe calls = %+v; want none for a bad key", calls)
	}
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStreamEventsDisconnectsAStuckClient: a client that stops reading is
// disconnected once a write has waited the write timeout, instead of
// holding the handler (and its subscription) forever.
func TestStreamEventsDisconnectsAStuckClient(t *testing.T) {
	old := sse.WriteTimeout
	sse.WriteTimeout = 100 * time.Millisecond
	t.Cleanup(func() { sse.WriteTimeout = old })
	s := newStreamServer(t)
	_ = s.open(t, "/events", "") // and never read
	stream := s.streamer.next(t)
	o := stored(t, domain.Placed)
	o.LastError = strings.Repeat("x", 16<<10) // large events fill the socket buffers sooner
	deadline := time.After(30 * time.Second)
	for id := domain.EventID(1); ; id++ {
		select {
		case stream.ch <- ptr(anEvent(id, domain.EventPlaced, o, nil)):
		case <-stream.closed:
			waitFor(t, "the disconnect logged", func() bool {
				return strings.Contains(s.logs.String(), `level=INFO msg="event stream client too slow: a write timed out, disconnected"`)
			})
			return
		case <-deadline:
			t.Fatalf("the handler still writes to a client that reads nothing after %d events", id)
		}
	}
}

func ptr[T any](v T) *T { return &v }
