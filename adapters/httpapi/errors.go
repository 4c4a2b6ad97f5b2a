package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
)

// InternalMessage is the contract's one message for every internal error.
const InternalMessage = "Internal server error while placing the order"

// InternalError is the contract's 500 body. It never carries the cause:
// that goes to the log.
type InternalError struct {
	Message string `json:"message" doc:"Always the same message; the cause is logged server-side." example:"Internal server error while placing the order"`
}

// Error implements error.
func (e *InternalError) Error() string { return e.Message }

// GetStatus implements huma.StatusError.
func (e *InternalError) GetStatus() int { return http.StatusInternalServerError }

// ContentType makes the 500 body plain JSON rather than a problem document,
// as the contract requires.
func (e *InternalError) ContentType(string) string { return "application/json" }

func internalError() *InternalError { return &InternalError{Message: InternalMessage} }

// overrideNewError makes every 500 Huma writes, including its own (a body
// that cannot be read, say), the contract's body. Huma's NewError is a
// package variable, so this is process-wide; 4xx and other 5xx keep Huma's
// problem documents.
var overrideNewError = sync.OnceFunc(func() {
	problem := huma.NewError
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		if status == http.StatusInternalServerError {
			return internalError()
		}
		m := problem(status, msg, errs...)
		if em, ok := m.(*huma.ErrorModel); ok {
			for _, d := range em.Errors {
				if d.Location == "body" || !echoable(d.Value) {
					d.Value = nil
				}
			}
		}
		return m
	}
})

// problem is the one table from errors to HTTP status codes. loc prefixes
// the field of a validation error: "body", "query" or "path".
func problem(ctx context.Context, log *slog.Logger, op, loc string, err error) error {
	var ves domain.ValidationErrors
	var ve *domain.ValidationError
	var ae *authError
	var rl *rateLimited
	var pe *paramError
	switch {
	case errors.Is(err, domain.ErrUnauthenticated):
		// RFC 6750 §3: the challenge names the realm, and says
		// invalid_token when a key was sent but is no good. The detail
		// never carries the key.
		challenge, detail := `Bearer realm="`+Realm+`"`, "a valid API key is required: send Authorization: Bearer <key>"
		if errors.As(err, &ae) {
			detail = ae.detail
			if ae.keySent {
				challenge += `, error="invalid_token"`
			}
		}
		return huma.ErrorWithHeaders(huma.Error401Unauthorized(detail), http.Header{"WWW-Authenticate": {challenge}})
	case errors.As(err, &rl):
		return huma.ErrorWithHeaders(huma.Error429TooManyRequests(rl.Error()), http.Header{"Retry-After": {strconv.Itoa(rl.retrySeconds())}})
	case errors.As(err, &ves):
		details := make([]error, len(ves))
		for i, v := range ves {
			details[i] = &huma.ErrorDetail{Location: loc + "." + v.Field, Message: v.Reason}
		}
		return huma.Error422UnprocessableEntity("validation failed", details...)
	case errors.As(err, &ve):
		return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{Location: loc + "." + ve.Field, Message: ve.Reason})
	case errors.Is(err, domain.ErrKeyReused):
		return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{
			Location: "header.Idempotency-Key",
			Message:  "was already used with a different request: use a new key for a new order",
		})
	case errors.As(err, &pe):
		return huma.Error400BadRequest("validation failed", &huma.ErrorDetail{Location: pe.location, Message: pe.reason})
	case errors.Is(err, domain.ErrNotFound):
		if strings.Contains(op, "webhook") {
			return huma.Error404NotFound("webhook not found")
		}
		return huma.Error404NotFound("order not found")
	case errors.Is(err, domain.ErrEventsGone):
		return huma.NewError(http.StatusGone, goneDetail)
	case errors.Is(err, app.ErrNoEvents):
		log.WarnContext(ctx, "events or webhooks asked for, but not configured", "operation", op, "request_id", RequestID(ctx))
		return huma.Error503ServiceUnavailable(noEventsDetail)
	case errors.Is(err, domain.ErrTransition):
		// Only cancel-order meets a refusal of the lifecycle.
		var r *refusal
		if errors.As(err, &r) {
			return huma.Error409Conflict(conflictDetail(r.status))
		}
		return huma.Error409Conflict("the order's status does not allow a cancel")
	default:
		// domain.ErrConflict lands here too: no request of a client
		// collides with stored state (an order ID taken is ordergate's own
		// fault), so POST /orders never answers 409.
		attrs := []any{"operation", op, "request_id", RequestID(ctx), "err", err}
		if k, ok := caller(ctx); ok {
			attrs = append(attrs, "key_id", k.ID)
		}
		log.ErrorContext(ctx, "request failed", attrs...)
		return internalError()
	}
}

// goneDetail is the 410 detail of an event stream asked to resume from an
// event older than what is kept.
const goneDetail = "the events after this ID are no longer kept (events are kept at least 7 days): " +
	"read the orders' current state with list-orders, then open the stream without Last-Event-ID or after"

// noEventsDetail is the 503 detail of an instance that serves no events.
const noEventsDetail = "events and webhooks are not available on this instance"

// paramError is a malformed parameter Huma does not check itself, such as
// the event stream's resume point: 400 naming it.
type paramError struct {
	location string // "header.Last-Event-ID", "query.after"
	reason   string
}

// Error implements error.
func (e *paramError) Error() string { return e.location + " " + e.reason }

// refusal is a domain.ErrTransition with the status of the order that
// refused, for the problem document.
type refusal struct {
	status domain.Status
	err    error
}

// Error implements error.
func (r *refusal) Error() string { return r.err.Error() }

// Unwrap returns the refusal's cause.
func (r *refusal) Unwrap() error { return r.err }

// conflictDetail is the 409 detail for an order in status s.
func conflictDetail(s domain.Status) string {
	return "the order is " + string(s) + ": it can no longer be canceled"
}

// echoable reports whether a rejected value is worth echoing in a problem
// document: short strings and finite numbers help the client; the whole
// body, objects, long strings and ±Inf (not even valid JSON) do not.
func echoable(v any) bool {
	switch v := v.(type) {
	case string:
		return len(v) <= 64
	case float64:
		return !math.IsInf(v, 0) && !math.IsNaN(v)
	case bool, nil:
		return true
	default:
		return false
	}
}
