package exchange

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

var _ ports.Exchange = (*Breaker)(nil)

// ErrCircuitOpen is returned, without calling the exchange, while the
// circuit breaker is open. It is transient.
var ErrCircuitOpen = errors.New("exchange circuit breaker is open")

// BreakerConfig tunes a Breaker. Zero fields take the defaults.
type BreakerConfig struct {
	// Failures is how many consecutive failed calls open the circuit
	// (default 20: at the simulator's 10 % failure rate, chance alone opens
	// it about once in 10^20 calls).
	Failures uint32
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
}

// NewBreaker wraps inner in a circuit breaker.
func NewBreaker(inner ports.Exchange, cfg BreakerConfig) *Breaker {
	if cfg.Failures == 0 {
		cfg.Failures = 20
	}
	if cfg.OpenFor == 0 {
		cfg.OpenFor = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "exchange-breaker")
	return &Breaker{
		inner: inner,
		cb: gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        "exchange",
			MaxRequests: 1,
			Timeout:     cfg.OpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.Failures },
			IsSuccessful: func(err error) bool {
				return err == nil || errors.Is(err, domain.ErrRejected)
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
		}),
	}
}

// Place calls the exchange unless the circuit is open.
func (b *Breaker) Place(ctx context.Context, o domain.Order) error {
	_, err := b.cb.Execute(func() (struct{}, error) { return struct{}{}, b.inner.Place(ctx, o) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return ErrCircuitOpen
	}
	return err
}

// State returns "closed", "half-open" or "open".
func (b *Breaker) State() string { return b.cb.State().String() }

// Ready reports whether a call would be let through: false while open. The
// dispatcher claims no jobs while it is false.
func (b *Breaker) Ready() bool { return b.cb.State() != gobreaker.StateOpen }
