package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// RequestIDHeader carries a request's ID: honoured when the client sends a
// usable one, generated otherwise, and echoed in every answer.
const RequestIDHeader = "X-Request-ID"

// Observer is told of every answered request, for metrics; route is the
// matched route pattern ("/orders/{id}"), or "unmatched".
type Observer interface {
	ObserveRequest(method, route string, status int, took time.Duration)
}

// Option configures Handler, OpsHandler and Register.
type Option func(*options)

type options struct {
	observer  Observer
	metrics   http.Handler
	perSecond float64
	burst     int
	streamer  Streamer
	keepAlive time.Duration
	shutdown  <-chan struct{}
}

func newOptions(opts []Option) options {
	o := options{keepAlive: DefaultStreamKeepAlive}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithMetrics serves metrics at GET /metrics and reports every request to
// observer; a *metrics.Metrics is both.
func WithMetrics(metrics http.Handler, observer Observer) Option {
	return func(o *options) { o.metrics, o.observer = metrics, observer }
}

// WithRateLimit limits each API key to perSecond requests per second on
// average, with bursts of up to burst requests (at least 1). A request
// over the limit is answered 429 with Retry-After and not served. Only
// authenticated requests of the order operations count. perSecond 0 (the
// default) turns the limit off.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(o *options) { o.perSecond, o.burst = perSecond, burst }
}

// WithEvents serves GET /events from streamer: each request subscribes
// with the account of its API key. Without it, GET /events answers 503.
func WithEvents(s Streamer) Option {
	return func(o *options) { o.streamer = s }
}

// WithStreamKeepAlive sets how long an idle event stream waits before it
// sends a comment line (DefaultStreamKeepAlive, 15 s, by default). d must
// be above 0; other values keep the default.
func WithStreamKeepAlive(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.keepAlive = d
		}
	}
}

// WithShutdown ends every event stream when done is closed. http.Server's
// Shutdown waits for requests to finish and does not cancel them: close
// done when shutdown begins (http.Server.RegisterOnShutdown) so that
// streams do not hold it up until its deadline.
func WithShutdown(done <-chan struct{}) Option {
	return func(o *options) { o.shutdown = done }
}

type requestIDKey struct{}

// requestInfo is what a request's later steps tell its access log line.
// The access log puts one in the request's context; the auth step fills
// it in on the same goroutine before the access log reads it.
type requestInfo struct {
	keyID domain.KeyID
}

type requestInfoKey struct{}

// infoOf returns the request's requestInfo, or nil outside the access log.
func infoOf(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// RequestID returns the ID of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// validRequestID accepts 1 to 128 visible ASCII characters: enough for any
// tracing scheme, and safe to log and echo.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends what is buffered to the client, as a streaming answer
// needs; it implements http.Flusher.
func (w *statusWriter) Flush() { _ = w.FlushError() }

// FlushError flushes and reports whether the client got it; flushing sends
// the header, with 200 unless one was written.
func (w *statusWriter) FlushError() error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var (
	_ http.Flusher                    = (*statusWriter)(nil)
	_ interface{ FlushError() error } = (*statusWriter)(nil)
)

// accessLog gives each request an ID, then writes one log line per request
// (method, route, path, status, duration, request ID, and the ID of the
// API key that authenticated it, if one did) at info and reports it to
// observer, if any. The ServeMux that routes the request records the
// pattern it matched, which names the route.
func accessLog(next http.Handler, log *slog.Logger, observer Observer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		info := &requestInfo{}
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		ctx = context.WithValue(ctx, requestInfoKey{}, info)
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		// ServeMux records the pattern it matched on the request it was given.
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		} else if _, path, ok := strings.Cut(route, " "); ok {
			route = path // "POST /orders" -> "/orders"
		}
		if observer != nil {
			observer.ObserveRequest(r.Method, route, status, took)
		}
		if log.Enabled(ctx, slog.LevelInfo) {
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Duration("duration", took),
				slog.String("request_id", id),
			}
			if info.keyID != "" {
				attrs = append(attrs, slog.String("key_id", string(info.keyID)))
			}
			log.LogAttrs(ctx, slog.LevelInfo, "http request", attrs...)
		}
	})
}

// Recover answers a panicking request with the contract's 500 body and logs
// the panic with its stack, instead of dropping the connection.
func Recover(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(v)
			}
			log.ErrorContext(ctx, "panic serving request", "method", r.Method, "path", r.URL.Path, "request_id", RequestID(ctx), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"message":"`+InternalMessage+`"}`)
		}()
		next.ServeHTTP(w, r)
	})
}
