package app_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

// signalMock returns an EventSignal mock whose channel the test feeds, and
// a channel closed when the subscriber stops listening.
func signalMock() (*mocks.EventSignalMock, chan struct{}, <-chan struct{}) {
	c := make(chan struct{}, 1)
	stopped := make(chan struct{})
	var once atomic.Bool
	return &mocks.EventSignalMock{EventsSignalFunc: func() (<-chan struct{}, func()) {
		return c, func() {
			if !once.Swap(true) {
				close(stopped)
			}
		}
	}}, c, stopped
}

func runSequencer(t *testing.T, ev *mocks.EventsMock, sig ports.EventSignal, poll time.Duration) (cancel func(), done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		app.RunEventSequencer(ctx, ev, sig, poll, quietLogger())
	}()
	t.Cleanup(func() { cancel(); <-ch })
	return cancel, ch
}

func TestEventSequencerRunsOnEverySignal(t *testing.T) {
	var calls atomic.Int32
	ev := &mocks.EventsMock{SequenceEventsFunc: func(ctx context.Context) (int, error) {
		calls.Add(1)
		return 1, nil
	}}
	sig, c, stopped := signalMock()
	// An hour's poll: only signals can make it run again.
	cancel, done := runSequencer(t, ev, sig, time.Hour)
	waitFor(t, "the first run at start", func() bool { return calls.Load() == 1 })
	for want := int32(2); want <= 4; want++ {
		c <- struct{}{}
		waitFor(t, "a run after the signal", func() bool { return calls.Load() == want })
	}
	cancel()
	<-done
	select {
	case <-stopped:
	default:
		t.Error("the sequencer returned without stopping its signal subscription")
	}
}

func TestEventSequencerPollsWithoutSignals(t *testing.T) {
	var calls atomic.Int32
	ev := &mocks.EventsMock{SequenceEventsFunc: func(ctx context.Context) (int, error) {
		calls.Add(1)
		return 0, nil
	}}
	runSequencer(t, ev, nil, time.Millisecond)
	waitFor(t, "five polled runs", func() bool { return calls.Load() >= 5 })
}

func TestEventSequencerSurvivesStoreErrors(t *testing.T) {
	var calls, ok atomic.Int32
	ev := &mocks.EventsMock{SequenceEventsFunc: func(ctx context.Context) (int, error) {
		if calls.Add(1) <= 4 {
			return 0, errors.New("database is locked")
		}
		ok.Add(1)
		return 2, nil
	}}
	sig, _, _ := signalMock()
	runSequencer(t, ev, sig, time.Millisecond)
	waitFor(t, "runs succeeding after the store recovers", func() bool { return ok.Load() >= 2 })
}

func TestPurgeEventsDeletesEventsOlderThanRetention(t *testing.T) {
	tests := []struct {
		name      string
		retention time.Duration
		want      time.Time
	}{
		{"given retention", 48 * time.Hour, t0.Add(-48 * time.Hour)},
		{"default retention", 0, t0.Add(-domain.EventRetention)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			ev := &mocks.EventsMock{PurgeEventsFunc: func(ctx context.Context, before time.Time) (int, error) {
				cancel() // one round is enough
				return 7, nil
			}}
			app.PurgeEvents(ctx, ev, newClock().mock(), tt.retention, time.Hour, quietLogger())
			calls := ev.PurgeEventsCalls()
			if len(calls) != 1 || !calls[0].Before.Equal(tt.want) {
				t.Errorf("PurgeEvents calls = %+v; want one with before = %s", calls, tt.want)
			}
		})
	}
}

func TestPurgeEventsKeepsGoingAfterErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	ev := &mocks.EventsMock{PurgeEventsFunc: func(ctx context.Context, before time.Time) (int, error) {
		if calls.Add(1) < 3 {
			return 0, errors.New("database is locked")
		}
		cancel()
		return 1, nil
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		app.PurgeEvents(ctx, ev, newClock().mock(), time.Hour, time.Millisecond, quietLogger())
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("PurgeEvents did not run a third time after two failures")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("PurgeEvents calls = %d; want 3", n)
	}
}
