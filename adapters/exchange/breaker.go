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
	// Failures is how many consecutive failed calls open the circuit,
	// provided the exchange also gave no answer for Quiet (default 20).
	Failures uint32
	// Quiet is how long the exchange must have gone without a successful
	// answer before failures open the circuit (default 5 s). Without it, a
	// burst of calls at high concurrency would trip a healthy exchange:
	// failures return at once while successes take their time, so the first
	// few dozen results can all be failures.
	Quiet time.Duration
	// OpenFor is how long the circuit stays open before one probe call is
	// let through (default 5 s).
	OpenFor time.Duration
	// Logger receives state changes (default slog.Default()).
	Logger *slog.Logger
}

// Breaker is a circuit breaker around an exchange: after a run of failures
// it stops calling, lets one probe through after a pause, and closes again
// when the probe succeeds. A refusal (domain.ErrRejected) counts as an
// answer, not a failure: the exchange is up.
type Breaker struct {
	inner ports.Exchange
	cb    *gobreaker.CircuitBreaker[struct{}]
	// lastAnswer is when the exchange last answered (success or refusal),
	// in Unix nanoseconds.
	lastAnswer atomic.Int64
}

// NewBreaker wraps inner in a circuit breaker.
func NewBreaker(inner ports.Exchange, cfg BreakerConfig) *Breaker {
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
		Name:        "exchange",
		MaxRequests: 1,
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			quietFor := time.Since(time.Unix(0, b.lastAnswer.Load()))
			return c.ConsecutiveFailures >= cfg.Failures && quietFor >= cfg.Quiet
		},
		IsSuccessful: func(err error) bool {
			answered := err == nil || errors.Is(err, domain.ErrRejected)
			if answered {
				b.lastAnswer.Store(time.Now().UnixNano())
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
