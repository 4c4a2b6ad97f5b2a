package exchange

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

var _ ports.Exchange = (*Sim)(nil)

// ErrUnavailable is the simulator's transient failure, with the reference
// building block's message. Place returns it unwrapped, so that its text is
// exactly the message operators know from the reference.
//
//lint:ignore ST1005 the reference message is part of the contract, capital and full stop included.
var ErrUnavailable = errors.New("Failed to place order at stock exchange. Connection not available") //nolint:staticcheck // ST1005: as above

// The reference building block's behaviour, which the command-line defaults
// reproduce. A zero SimConfig does not take them: it is an instant exchange
// that never fails, which is what most tests want.
const (
	// DefaultFailureRate is the reference share of calls that fail.
	DefaultFailureRate = 0.1
	// DefaultLatency is how long a successful reference call takes.
	DefaultLatency = 500 * time.Millisecond
)

// SimConfig configures a Sim.
type SimConfig struct {
	// FailureRate is the share of calls, 0 to 1, that fail at once with
	// ErrUnavailable.
	FailureRate float64
	// Latency is how long a successful call takes.
	Latency time.Duration
	// Rand returns a number in [0, 1); nil means math/rand/v2. Tests pass a
	// deterministic source. Sim calls it with a lock held, so it need not be
	// safe for concurrent use.
	Rand func() float64
}

// SimStats counts what a Sim has seen. Once every call has returned, Calls
// is the sum of the other fields.
type SimStats struct {
	// Calls counts every Place call.
	Calls int64
	// Failures counts calls that failed with ErrUnavailable.
	Failures int64
	// Rejected counts calls refused for good: a missing order.
	Rejected int64
	// Cancelled counts calls whose context ended before the exchange
	// answered; they placed nothing.
	Cancelled int64
	// Placed counts orders placed, each ID once.
	Placed int64
	// Duplicates counts successful calls for an ID already placed: they
	// are acknowledged without placing the order again.
	Duplicates int64
}

// Sim is a simulated exchange: each call fails at once with probability
// FailureRate, otherwise takes Latency and places the order, unless its ID
// was placed before, in which case it is acknowledged without a second
// placement. It is safe for concurrent use.
type Sim struct {
	cfg SimConfig

	mu     sync.Mutex
	stats  SimStats
	placed map[domain.ID]int
}

// NewSim returns a simulator, or an error naming an invalid setting.
func NewSim(cfg SimConfig) (*Sim, error) {
	// Written so that NaN fails too.
	if !(cfg.FailureRate >= 0 && cfg.FailureRate <= 1) {
		return nil, fmt.Errorf("exchange: simulator FailureRate %v must be between 0 and 1", cfg.FailureRate)
	}
	if cfg.Latency < 0 {
		return nil, fmt.Errorf("exchange: simulator Latency %s must not be negative", cfg.Latency)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return &Sim{cfg: cfg, placed: map[domain.ID]int{}}, nil
}

// Place places o with o.ID as the client order ID. A missing order (zero
// ID) is a permanent error wrapping domain.ErrRejected. ErrUnavailable and
// an error wrapping ctx's error, when ctx ends first, are transient.
func (s *Sim) Place(ctx context.Context, o domain.Order) error {
	s.mu.Lock()
	s.stats.Calls++
	// A missing order is refused before the dice are rolled: a permanent
	// error must not hide behind a transient one the caller would retry.
	if o.ID.IsZero() {
		s.stats.Rejected++
		s.mu.Unlock()
		return fmt.Errorf("exchange: order is missing: %w", domain.ErrRejected)
	}
	if err := ctx.Err(); err != nil {
		s.stats.Cancelled++
		s.mu.Unlock()
		return fmt.Errorf("exchange: placement abandoned: %w", err)
	}
	if s.cfg.Rand() < s.cfg.FailureRate {
		s.stats.Failures++
		s.mu.Unlock()
		return ErrUnavailable
	}
	s.mu.Unlock()

	if s.cfg.Latency > 0 {
		t := time.NewTimer(s.cfg.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			s.mu.Lock()
			s.stats.Cancelled++
			s.mu.Unlock()
			return fmt.Errorf("exchange: placement abandoned: %w", ctx.Err())
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.placed[o.ID] > 0 {
		s.stats.Duplicates++
		return nil
	}
	s.placed[o.ID] = 1
	s.stats.Placed++
	return nil
}

// Stats returns the counters so far.
func (s *Sim) Stats() SimStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Placements returns how many times the order with the given ID was
// placed: 0 or 1, since repeats are acknowledged without placing.
func (s *Sim) Placements(id domain.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.placed[id]
}

// PlacedIDs returns the IDs of every order placed so far, oldest ID first
// (UUIDv7 byte order is creation order).
func (s *Sim) PlacedIDs() []domain.ID {
	s.mu.Lock()
	ids := make([]domain.ID, 0, len(s.placed))
	for id := range s.placed {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.SortFunc(ids, func(a, b domain.ID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}
