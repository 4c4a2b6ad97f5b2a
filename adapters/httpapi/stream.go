package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/sse"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
)

// Streamer hands out subscriptions to an account's events; the app's
// event hub is one. Subscribe returns a stream of account's events with
// IDs above after (after 0: from the oldest event kept), or an error
// wrapping domain.ErrEventsGone if events above after are no longer kept.
// The stream ends when ctx is done.
type Streamer interface {
	Subscribe(ctx context.Context, account domain.Account, after domain.EventID) (app.EventStream, error)
}

// DefaultStreamKeepAlive is how long an event stream stays silent at most:
// after that long without an event it sends a comment line.
const DefaultStreamKeepAlive = 15 * time.Second

// errNoStreamer answers stream-events on an API built without WithEvents.
var errNoStreamer = fmt.Errorf("no event streamer configured: %w", app.ErrNoEvents)

// StreamEventsInput is the request of stream-events. The middleware that
// subscribes reads and checks both before Huma does; they are here for
// the document.
type StreamEventsInput struct {
	LastEventID string `header:"Last-Event-ID" pattern:"^[0-9]{1,19}$" doc:"The ID of the last event the client received: the stream resumes with the events after it. Browsers' EventSource sends it when it reconnects. Wins over after." example:"1041"`
	After       string `query:"after" pattern:"^[0-9]{1,19}$" doc:"Resume after this event ID, for clients that cannot set Last-Event-ID. Without either, the stream starts with the oldest event kept." example:"1041"`
}

// streamKinds are the Go types the stream's messages carry, one per event
// type: Huma's sse package names a message's event by its data's type.
// Each holds the EventJSON bytes.
type (
	createdKind         struct{}
	placedKind          struct{}
	partiallyFilledKind struct{}
	filledKind          struct{}
	pendingCancelKind   struct{}
	canceledKind        struct{}
	expiredKind         struct{}
	rejectedKind        struct{}
)

// streamData is the data of a message on the event stream: an event
// rendered by EventJSON, typed by K so that the message's event: line
// names its type.
type streamData[K any] []byte

// MarshalJSON returns the rendered event as it is.
func (d streamData[K]) MarshalJSON() ([]byte, error) { return d, nil }

// Schema implements huma.SchemaProvider: every message's data is an Event.
func (streamData[K]) Schema(r huma.Registry) *huma.Schema {
	return r.Schema(typeOf[Event](), true, "Event")
}

// streamMessages makes a message's data of each event type.
var streamMessages = map[domain.EventType]func([]byte) any{
	domain.EventCreated:         func(b []byte) any { return streamData[createdKind](b) },
	domain.EventPlaced:          func(b []byte) any { return streamData[placedKind](b) },
	domain.EventPartiallyFilled: func(b []byte) any { return streamData[partiallyFilledKind](b) },
	domain.EventFilled:          func(b []byte) any { return streamData[filledKind](b) },
	domain.EventPendingCancel:   func(b []byte) any { return streamData[pendingCancelKind](b) },
	domain.EventCanceled:        func(b []byte) any { return streamData[canceledKind](b) },
	domain.EventExpired:         func(b []byte) any { return streamData[expiredKind](b) },
	domain.EventRejected:        func(b []byte) any { return streamData[rejectedKind](b) },
}

// streamEventTypes is sse.Register's map from event name to data type.
func streamEventTypes() map[string]any {
	m := make(map[string]any, len(streamMessages))
	for t, data := range streamMessages {
		m[string(t)] = data(nil)
	}
	return m
}

// resumePoint reads where a stream resumes: the Last-Event-ID header if
// sent, else the after query parameter, else 0. Either must be a
// non-negative integer when sent; a bad one is a *paramError naming it.
func resumePoint(lastEventID, after string) (domain.EventID, error) {
	parse := func(loc, s string) (domain.EventID, error) {
		ok := len(s) <= 19
		for i := 0; i < len(s) && ok; i++ {
			ok = s[i] >= '0' && s[i] <= '9'
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if !ok || err != nil {
			return 0, &paramError{location: loc, reason: "must be an event ID: a non-negative integer like 1041"}
		}
		return domain.EventID(n), nil
	}
	var id domain.EventID
	if after != "" {
		n, err := parse("query.after", after)
		if err != nil {
			return 0, err
		}
		id = n
	}
	if lastEventID != "" {
		return parse("header.Last-Event-ID", lastEventID)
	}
	return id, nil
}

// subscription is a stream-events request's event stream and the writer
// its comments go to.
type subscription struct {
	account domain.Account
	stream  app.EventStream
	w       http.ResponseWriter // nil if the adapter's writer is not one
}

type subscriptionKey struct{}

// subscribe is the middleware of stream-events, after authentication: it
// reads the resume point and subscribes before anything is written, so
// that a bad resume point (400), events no longer kept (410) or an
// instance without events (503) get a problem document and not a stream.
func (h *handlers) subscribe(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		fail := func(err error) {
			writeError(api, ctx, h.log, problem(ctx.Context(), h.log, "stream-events", "header", err))
		}
		after, err := resumePoint(ctx.Header("Last-Event-ID"), ctx.Query("after"))
		if err != nil {
			fail(err)
			return
		}
		acct, err := account(ctx.Context())
		if err != nil {
			fail(err)
			return
		}
		if h.streamer == nil {
			fail(errNoStreamer)
			return
		}
		stream, err := h.streamer.Subscribe(ctx.Context(), acct, after)
		if err != nil {
			fail(fmt.Errorf("subscribe after event %d: %w", after, err))
			return
		}
		defer stream.Close()
		w, _ := ctx.BodyWriter().(http.ResponseWriter)
		ctx.SetHeader("Cache-Control", "no-store")
		ctx.SetHeader("X-Accel-Buffering", "no") // proxies such as nginx: do not buffer the stream
		if ctx.Version().ProtoMajor == 1 {
			// The connection ends with the stream, so that the write
			// deadlines of its last writes never reach another request.
			ctx.SetHeader("Connection", "close")
		}
		next(huma.WithValue(ctx, subscriptionKey{}, &subscription{account: acct, stream: stream, w: w}))
	}
}

// streamWriteTimeout is how long one write to a stream's client may take;
// a client that does not read for that long is disconnected. It is the sse
// package's, which the events themselves are written with.
func streamWriteTimeout() time.Duration { return sse.WriteTimeout }

// comment writes an SSE comment line and flushes it, within the write
// timeout.
func (s *subscription) comment(text string) error {
	if s.w == nil {
		return nil
	}
	rc := http.NewResponseController(s.w)
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout())) // not every writer has deadlines
	if _, err := io.WriteString(s.w, ": "+text+"\n\n"); err != nil {
		return err
	}
	return rc.Flush()
}

// streamEvents sends the subscription's events, each as an SSE message
// with id: its ID, event: its type and data: its EventJSON, and a comment
// whenever it has been silent for the keep-alive interval. It returns when
// the client goes away or is too slow (a write times out), when the event
// stream ends, or when the server shuts down (WithShutdown).
func (h *handlers) streamEvents(ctx context.Context, _ *StreamEventsInput, send sse.Sender) {
	sub, ok := ctx.Value(subscriptionKey{}).(*subscription)
	if !ok {
		h.log.ErrorContext(ctx, "stream-events without its subscription", "request_id", RequestID(ctx))
		return
	}
	// The header goes out now, so the client knows the stream is open
	// before the first event.
	if err := sub.comment("stream open"); err != nil {
		h.streamEnded(ctx, err)
		return
	}
	keepAlive := time.NewTimer(h.keepAlive)
	defer keepAlive.Stop()
	events := sub.stream.Events()
	for {
		select {
		case <-ctx.Done():
			h.streamEnded(ctx, ctx.Err())
			return
		case <-h.shutdown:
			h.streamEnded(ctx, errShutdown)
			return
		case e, open := <-events:
			if !open {
				h.streamEnded(ctx, sub.stream.Err())
				return
			}
			if e.Account != sub.account {
				// The hub subscribed for the key's account; never pass on
				// another's event, whatever it hands out.
				h.log.ErrorContext(ctx, "event of another account not streamed", "event_id", int64(e.ID), "request_id", RequestID(ctx))
				continue
			}
			if err := h.sendEvent(ctx, send, *e); err != nil {
				h.streamEnded(ctx, err)
				return
			}
		case <-keepAlive.C:
			if err := sub.comment("keep-alive"); err != nil {
				h.streamEnded(ctx, err)
				return
			}
		}
		keepAlive.Reset(h.keepAlive)
	}
}

// errShutdown ends the streams of a server shutting down.
var errShutdown = errors.New("server shutting down")

func (h *handlers) sendEvent(ctx context.Context, send sse.Sender, e domain.OrderEvent) error {
	data, ok := streamMessages[e.Type]
	if !ok {
		// A type the document does not list: a client could not expect it.
		h.log.ErrorContext(ctx, "event of unknown type not streamed", "event_id", int64(e.ID), "type", string(e.Type))
		return nil
	}
	b, err := EventJSON(e)
	if err != nil {
		return err
	}
	if err := send(sse.Message{ID: int(e.ID), Data: data(b)}); err != nil {
		return fmt.Errorf("send event %d: %w", e.ID, err)
	}
	return nil
}

// streamEnded logs why a stream ended: a client too slow to keep up (the
// hub's buffer filled, or a write timed out) and a shutdown at info, a
// client that went away at debug.
func (h *handlers) streamEnded(ctx context.Context, err error) {
	attrs := []any{"request_id", RequestID(ctx)}
	if k, ok := caller(ctx); ok {
		attrs = append(attrs, "key_id", string(k.ID))
	}
	switch {
	case err == nil:
		h.log.InfoContext(ctx, "event stream ended", attrs...)
	case errors.Is(err, app.ErrStreamTooSlow):
		h.log.InfoContext(ctx, "event stream client too slow: disconnected", append(attrs, "err", err)...)
	case errors.Is(err, os.ErrDeadlineExceeded):
		h.log.InfoContext(ctx, "event stream client too slow: a write timed out, disconnected", append(attrs, "err", err)...)
	case errors.Is(err, errShutdown):
		h.log.InfoContext(ctx, "event stream closed for shutdown", attrs...)
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		h.log.DebugContext(ctx, "event stream client went away", append(attrs, "err", err)...)
	default:
		// A write that timed out (a client not reading) or a failing
		// store under the hub, which logs its own errors.
		h.log.InfoContext(ctx, "event stream ended", append(attrs, "err", err)...)
	}
}
