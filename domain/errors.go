package domain

import (
	"errors"
	"strings"
)

// Sentinel errors. Adapters wrap them with context (fmt.Errorf("...: %w", err))
// and callers test for them with errors.Is.
var (
	// ErrInvalid marks input that breaks a domain rule. Every ValidationError
	// matches it.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound means the requested order does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a write collided with existing state, for example an
	// order ID that is already stored.
	ErrConflict = errors.New("conflict")
	// ErrRejected means the exchange refused an order for good. Only errors
	// wrapping ErrRejected are permanent; every other exchange error is
	// treated as transient and retried.
	ErrRejected = errors.New("rejected by the exchange")
	// ErrLeaseLost means work is no longer the caller's: a job's lease
	// expired and another dispatcher claimed it (or it was settled), or
	// another ingester applied the reports the caller was about to.
	ErrLeaseLost = errors.New("lease lost")
	// ErrUnauthenticated means a request carries no valid API key: none, a
	// malformed one, an unknown one or a revoked one.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrFeedTruncated means the exchange no longer keeps the reports asked
	// for: they cannot be replayed. An ingester stops rather than skip them.
	ErrFeedTruncated = errors.New("the exchange no longer keeps the reports asked for")
	// ErrTransition means an input is not allowed in the order's status,
	// for example a cancel request on a filled order. The HTTP API answers
	// 409.
	ErrTransition = errors.New("transition not allowed")
	// ErrOverfill means a fill would take an order's filled quantity past
	// its quantity. The fill is not applied.
	ErrOverfill = errors.New("fill exceeds the order's quantity")
)

// ValidationError says which field of an order request breaks which rule.
type ValidationError struct {
	// Field is the request field at fault, as named in the HTTP API
	// ("instrument", "limit_price", ...).
	Field string
	// Reason says what is wrong, in words a client can show a user.
	Reason string
}

// Error implements error.
func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Is makes every ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// ValidationErrors collects every rule an order request breaks, so that a
// client learns all of them at once. errors.As finds each element.
type ValidationErrors []*ValidationError

// Error implements error.
func (es ValidationErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (es ValidationErrors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// ErrKeyReused means an idempotency key came back with a different request
// than the one it was first used with.
var ErrKeyReused = errors.New("idempotency key reused with a different request")
