package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
)

// Authenticator tells which API key a request's key is; *app.Authenticator
// is one. Authenticate returns an error wrapping domain.ErrUnauthenticated
// for a malformed, unknown or revoked key; any other error is the store's.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (domain.APIKey, error)
}

var (
	_ Authenticator = (*app.Authenticator)(nil)
	_ Service       = (*app.Service)(nil)
)

// SecurityScheme names the bearer scheme in the OpenAPI document.
const SecurityScheme = "bearer"

// Realm is the realm of the Bearer challenge in WWW-Authenticate.
const Realm = "ordergate"

// MaxAuthorizationBytes is the longest Authorization header read; a longer
// one is refused unread. Keys are 46 bytes.
const MaxAuthorizationBytes = 512

// rateLimitKeys bounds the keys whose rate limiters are held at once: the
// least recently used are forgotten first, and a forgotten key starts
// again with a full bucket.
const rateLimitKeys = 10_000

// authError is a request without a valid API key, with a reason safe to
// send: it never holds the key. keySent is whether the request offered a
// bearer key at all, which picks the challenge's error code (RFC 6750
// §3.1).
type authError struct {
	detail  string
	keySent bool
	err     error
}

// Error implements error.
func (e *authError) Error() string { return e.detail }

// Unwrap returns the cause, which matches domain.ErrUnauthenticated.
func (e *authError) Unwrap() error { return e.err }

// rateLimited is a request over its key's rate limit.
type rateLimited struct {
	retryAfter time.Duration
	perSecond  float64
	burst      int
}

// Error implements error.
func (e *rateLimited) Error() string {
	return fmt.Sprintf("rate limit of %s requests per second (burst %d) exceeded for this API key: retry after %d s",
		strconv.FormatFloat(e.perSecond, 'f', -1, 64), e.burst, e.retrySeconds())
}

// retrySeconds is Retry-After: whole seconds, rounded up, at least 1.
func (e *rateLimited) retrySeconds() int {
	s := math.Ceil(e.retryAfter.Seconds())
	if s < 1 {
		return 1
	}
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(s)
}

// bearerKey reads the API key from the value of an Authorization header:
// the scheme "Bearer" in any case, exactly one space, and a b64token
// (RFC 6750 §2.1), taken as is. It returns an *authError, matching
// domain.ErrUnauthenticated, for anything else.
func bearerKey(header string) (string, error) {
	const scheme = "bearer"
	missing := func(detail string) error {
		return &authError{detail: detail, err: fmt.Errorf("no bearer key: %w", domain.ErrUnauthenticated)}
	}
	malformed := func(detail string) error {
		return &authError{detail: detail, keySent: true, err: fmt.Errorf("malformed Authorization header: %w", domain.ErrUnauthenticated)}
	}
	switch {
	case header == "":
		return "", missing("an API key is required: send Authorization: Bearer <key>")
	case len(header) > MaxAuthorizationBytes:
		detail := "the Authorization header is longer than " + strconv.Itoa(MaxAuthorizationBytes) + " bytes"
		if strings.EqualFold(header[:len(scheme)+1], scheme+" ") {
			return "", malformed(detail)
		}
		return "", missing(detail)
	}
	name, key, found := strings.Cut(header, " ")
	if !strings.EqualFold(name, scheme) {
		return "", missing("the Authorization header must use the Bearer scheme: Authorization: Bearer <key>")
	}
	if !found || key == "" {
		return "", missing("the Authorization header carries no key: send Authorization: Bearer <key>")
	}
	if !b64token(key) {
		return "", malformed("the API key is malformed: send Authorization: Bearer, one space, then the key exactly as it was shown")
	}
	return key, nil
}

// b64token reports whether s is a b64token (RFC 6750 §2.1): letters,
// digits, '-', '.', '_', '~', '+' and '/', then any number of '='.
func b64token(s string) bool {
	i := 0
	for i < len(s) && tokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// tokenChar reports whether c may appear in a b64token before its '='.
func tokenChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0
}

// callerKey holds the authenticated API key in a request's context.
type callerKey struct{}

// caller returns the API key that authenticated the request ctx belongs
// to.
func caller(ctx context.Context) (domain.APIKey, bool) {
	k, ok := ctx.Value(callerKey{}).(domain.APIKey)
	return k, ok
}

// account returns the account of the request's API key. A handler of an
// operation without the auth middleware gets an internal error.
func account(ctx context.Context) (domain.Account, error) {
	k, ok := caller(ctx)
	if !ok || k.Account == "" {
		return "", errors.New("no authenticated caller: the operation lacks the auth middleware")
	}
	return k.Account, nil
}

// limiters holds one token bucket per API key, for the keys seen most
// recently.
type limiters struct {
	perSecond float64
	burst     int
	cache     *lru.Cache[domain.KeyID, *rate.Limiter]
}

// newLimiters returns per-key limiters, or nil when perSecond is not
// above 0 (no limit).
func newLimiters(perSecond float64, burst int) *limiters {
	if perSecond <= 0 || math.IsNaN(perSecond) {
		return nil
	}
	burst = max(burst, 1)
	cache, err := lru.New[domain.KeyID, *rate.Limiter](rateLimitKeys)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &limiters{perSecond: perSecond, burst: burst, cache: cache}
}

// allow takes one request from id's bucket at now, or returns a
// *rateLimited saying how long until one is free.
func (l *limiters) allow(id domain.KeyID, now time.Time) error {
	lim, ok := l.cache.Get(id)
	if !ok {
		lim = rate.NewLimiter(rate.Limit(l.perSecond), l.burst)
		// Two first requests of a key may race: both use the one stored.
		if prev, found, _ := l.cache.PeekOrAdd(id, lim); found {
			lim = prev
		}
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return &rateLimited{retryAfter: time.Second, perSecond: l.perSecond, burst: l.burst}
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // the request is not served: give its token back
		return &rateLimited{retryAfter: d, perSecond: l.perSecond, burst: l.burst}
	}
	return nil
}

// authenticated makes op an order operation that needs an API key: it
// documents the bearer scheme and the 401 and 429 answers, and runs
// authenticate before the request is read.
func (h *handlers) authenticated(api huma.API, op huma.Operation) huma.Operation {
	op.Security = []map[string][]string{{SecurityScheme: {}}}
	op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusTooManyRequests)
	op.Middlewares = append(op.Middlewares, func(ctx huma.Context, next func(huma.Context)) {
		k, err := h.authenticate(ctx)
		if err != nil {
			writeError(api, ctx, h.log, problem(ctx.Context(), h.log, ctx.Operation().OperationID, "header", err))
			return
		}
		next(huma.WithValue(ctx, callerKey{}, k))
	})
	return op
}

// authenticate finds the request's API key and takes the request from the
// key's rate limit. It tells the access log the key's ID once it is known.
func (h *handlers) authenticate(ctx huma.Context) (domain.APIKey, error) {
	var header string
	n := 0
	ctx.EachHeader(func(name, value string) {
		if strings.EqualFold(name, "Authorization") {
			header, n = value, n+1
		}
	})
	if n > 1 {
		return domain.APIKey{}, &authError{detail: "send one Authorization header", keySent: true,
			err: fmt.Errorf("%d Authorization headers: %w", n, domain.ErrUnauthenticated)}
	}
	key, err := bearerKey(header)
	if err != nil {
		return domain.APIKey{}, err
	}
	if h.auth == nil {
		return domain.APIKey{}, errors.New("no authenticator configured")
	}
	k, err := h.auth.Authenticate(ctx.Context(), key)
	if errors.Is(err, domain.ErrUnauthenticated) {
		// err names the kind of failure and at most the key's ID, never
		// the key; the client learns no more than that the key is no good.
		h.log.DebugContext(ctx.Context(), "authentication failed", "request_id", RequestID(ctx.Context()), "err", err)
		return domain.APIKey{}, &authError{detail: "the API key is malformed, unknown or revoked", keySent: true, err: err}
	}
	if err != nil {
		return domain.APIKey{}, fmt.Errorf("authenticate: %w", err)
	}
	if info := infoOf(ctx.Context()); info != nil {
		info.keyID = k.ID
	}
	if h.limits != nil {
		if err := h.limits.allow(k.ID, time.Now()); err != nil {
			return domain.APIKey{}, err
		}
	}
	return k, nil
}

// writeError answers the request with err, a huma.StatusError perhaps
// wrapped with headers, as Huma answers an error a handler returns.
func writeError(api huma.API, ctx huma.Context, log *slog.Logger, err error) {
	var he huma.HeadersError
	if errors.As(err, &he) {
		for name, values := range he.GetHeaders() {
			for _, v := range values {
				ctx.AppendHeader(name, v)
			}
		}
	}
	var se huma.StatusError
	if !errors.As(err, &se) {
		se = internalError()
	}
	ct, nerr := api.Negotiate(ctx.Header("Accept"))
	if nerr != nil {
		ct = "application/json"
	}
	if f, ok := se.(huma.ContentTypeFilter); ok {
		ct = f.ContentType(ct)
	}
	status := se.GetStatus()
	body, terr := api.Transform(ctx, strconv.Itoa(status), se)
	if terr != nil {
		body = se
	}
	ctx.SetHeader("Content-Type", ct)
	ctx.SetStatus(status)
	if merr := api.Marshal(ctx.BodyWriter(), ct, body); merr != nil && ctx.Context().Err() == nil {
		log.ErrorContext(ctx.Context(), "write an error answer", "status", status, "err", merr)
	}
}
