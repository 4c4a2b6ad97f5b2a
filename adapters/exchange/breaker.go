package exchange

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

var (
	_ ports.Exchange = (*Breaker)(nil)
	_ ports.Gate     = (*Breaker)(nil)
)

// ErrCircuitOpen is returned, without calling the exchange, while the
// circuit breaker is open. It is transient.
var ErrCircuitOpen = errors.New("exchange circuit breaker is open")

// BreakerConfig tunes a Breaker. Zero fields take the defaults.
type BreakerConfig struct {
	// MinCalls is how many calls must have started within Window before
	// their failure ratio may open the circuit (default 40).
	MinCalls uint32
	// FailureRatio is the share of the calls started within Window that
	// must have failed to open the circuit (default 0.5).
	FailureRatio float64
	// Window is how far back calls count, by when they started (default
	// 2 s, rolled in eighths).
	Window time.Duration
	// Failures and Quiet are the backstop for failures slower than Window
	// (calls that time out): Failures consecutive failed calls with no
	// answer for Quiet also open the circuit (defaults 20 and 5 s).
	Failures uint32
	Quiet    time.Duration
	// OpenFor is how long the circuit stays open before one probe call is
	// let through (default 5 s).
	OpenFor time.Duration
	// Logger receives state changes (default slog.Default()).
	Logger *slog.Logger
}

// Defaults of BreakerConfig.
const (
	DefaultBreakerMinCalls     = 40
	DefaultBreakerFailureRatio = 0.5
	DefaultBreakerWindow       = 2 * time.Second
)

// Breaker is a circuit breaker around an exchange: it stops calling when
// most recent calls fail, lets one probe through after a pause, and closes
// again when the probe succeeds. A refusal (domain.ErrRejected) counts as
// an answer, not a failure: the exchange is up.
//
// The ratio is taken over the calls *started* within the window, each
// call's result counted against its start, and a call still in flight
// counts as not failed. So the failures counted are a subset of the
// failures among a fixed set of started calls, whatever order the results
// come back in: on an exchange that fails each call with probability p,
// opening needs Binomial(n, p) ≥ FailureRatio·n for some n ≥ MinCalls,
// which for p = 0.1, n ≥ 40 and a ratio of 0.5 has odds below 1e-9 per
// evaluation. A burst at high concurrency, whose instant failures all come
// back before its slow successes, cannot trip it: the successes still in
// flight are in the denominator. A ratio over completed calls would see
// 26 failures out of 26 there. On an exchange that fails every call, the
// circuit opens once the failures reach MinCalls and outnumber the calls
// still in flight: after MinCalls calls one at a time, and at most
// max(2·MinCalls, 2·in flight) calls in all.
type Breaker struct {
	inner ports.Exchange
	cb    *gobreaker.CircuitBreaker[struct{}]
	// lastAnswer is when the exchange last answered (success or refusal),
	// in Unix nanoseconds; failStreak counts failures since then.
	lastAnswer atomic.Int64
	failStreak atomic.Uint32
}

// NewBreaker wraps inner in a circuit breaker.
func NewBreaker(inner ports.Exchange, cfg BreakerConfig) *Breaker {
	if cfg.MinCalls == 0 {
		cfg.MinCalls = DefaultBreakerMinCalls
	}
	if cfg.FailureRatio <= 0 || cfg.FailureRatio > 1 {
		cfg.FailureRatio = DefaultBreakerFailureRatio
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultBreakerWindow
	}
	if cfg.Failures == 0 {
		cfg.Failures = 20
	}
	if cfg.OpenFor == 0 {
		cfg.OpenFor = 5 * time.Second
	}
	if cfg.Quiet == 0 {
		cfg.Quiet = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "exchange-breaker")
	b := &Breaker{inner: inner}
	b.lastAnswer.Store(time.Now().UnixNano()) // a fresh start gets a full quiet period
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         "exchange",
		MaxRequests:  1,
		Interval:     cfg.Window,
		BucketPeriod: cfg.Window / 8,
		Timeout:      cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if ratioTrips(c, cfg.MinCalls, cfg.FailureRatio) {
				return true
			}
			quietFor := time.Since(time.Unix(0, b.lastAnswer.Load()))
			return b.failStreak.Load() >= cfg.Failures && quietFor >= cfg.Quiet
		},
		IsSuccessful: func(err error) bool {
			answered := err == nil || errors.Is(err, domain.ErrRejected)
			if answered {
				b.lastAnswer.Store(time.Now().UnixNano())
				b.failStreak.Store(0)
			} else {
				b.failStreak.Add(1)
			}
			return answered
		},
		// A call cut short by our own shutdown says nothing about the exchange.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			level := slog.LevelWarn
			if to == gobreaker.StateClosed {
				level = slog.LevelInfo
			}
			log.Log(context.Background(), level, "exchange circuit "+to.String(), "from", from.String(), "to", to.String())
		},
	})
	return b
}

// ratioTrips reports whether c, gobreaker's counts of the calls started
// within the window, holds at least minCalls calls of which at least ratio
// have failed. Requests counts calls still in flight, so they dilute the
// ratio instead of leaving it to the calls that came back first.
func ratioTrips(c gobreaker.Counts, minCalls uint32, ratio float64) bool {
	started := c.Requests - min(c.Requests, c.TotalExclusions)
	return started >= minCalls && float64(c.TotalFailures) >= ratio*float64(started)
}

// Place calls the exchange unless the circuit is open.
func (b *Breaker) Place(ctx context.Context, o domain.Order) error {
	return b.call(func() error { return b.inner.Place(ctx, o) })
}

// Cancel calls the exchange unless the circuit is open. Cancels and
// placements go through one circuit: both tell whether the exchange is up.
func (b *Breaker) Cancel(ctx context.Context, id domain.ID) error {
	return b.call(func() error { return b.inner.Cancel(ctx, id) })
}

func (b *Breaker) call(f func() error) error {
	_, err := b.cb.Execute(func() (struct{}, error) { return struct{}{}, f() })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return ErrCircuitOpen
	}
	return err
}

// State returns the circuit's state.
func (b *Breaker) State() ports.GateState {
	switch b.cb.State() {
	case gobreaker.StateOpen:
		return ports.GateOpen
	case gobreaker.StateHalfOpen:
		return ports.GateHalfOpen
	default:
		return ports.GateClosed
	}
}

// Ready reports whether a call would be let through: false while open. The
// dispatcher claims no jobs while it is false.
func (b *Breaker) Ready() bool { return b.cb.State() != gobreaker.StateOpen }
