package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// Defaults of RunEventSequencer and PurgeEvents.
const (
	DefaultSequencePoll       = 250 * time.Millisecond
	DefaultEventPurgeInterval = time.Hour
)

// sequenceBackoffMax caps the wait after consecutive SequenceEvents failures.
const sequenceBackoffMax = 30 * time.Second

// RunEventSequencer gives committed events their IDs until ctx ends: it
// calls events.SequenceEvents after every signal (signal may be nil) and at
// least every poll (DefaultSequencePoll if 0). On PostgreSQL events become
// readable this way; on SQLite the calls are cheap no-ops. Failures are
// logged and retried with a doubling pause (up to 30 s), never fatal.
func RunEventSequencer(ctx context.Context, events ports.Events, signal ports.EventSignal, poll time.Duration, log *slog.Logger) {
	if poll <= 0 {
		poll = DefaultSequencePoll
	}
	if log == nil {
		log = slog.Default()
	}
	var sig <-chan struct{}
	if signal != nil {
		c, stop := signal.EventsSignal()
		defer stop()
		sig = c
	}
	t := time.NewTimer(poll)
	defer t.Stop()
	pause := poll
	for ctx.Err() == nil {
		_, err := events.SequenceEvents(ctx)
		wait := poll
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("sequence events", "err", err, "retry_in", pause)
			wait, pause = pause, min(2*pause, max(poll, sequenceBackoffMax))
		case err == nil:
			pause = poll
		}
		t.Reset(wait)
		if err != nil {
			// While the store fails, signals do not shorten the pause.
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-sig:
		case <-t.C:
		}
	}
}

// PurgeEvents runs until ctx is cancelled, deleting events (and their
// webhook deliveries) older than retention (domain.EventRetention if 0)
// every interval (DefaultEventPurgeInterval if 0). Several instances may
// run it at once.
func PurgeEvents(ctx context.Context, events ports.Events, clock ports.Clock, retention, interval time.Duration, log *slog.Logger) {
	if retention <= 0 {
		retention = domain.EventRetention
	}
	if interval <= 0 {
		interval = DefaultEventPurgeInterval
	}
	if log == nil {
		log = slog.Default()
	}
	purgeEvery(ctx, "events", events.PurgeEvents, clock, retention, interval, log)
}
