package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

// memEvents is an in-memory event store: IDs in append order, reads by
// account, a purge watermark, injectable failures, and a signal after each
// append.
type memEvents struct {
	mu   sync.Mutex
	evs  []domain.OrderEvent
	gone domain.EventID // events up to gone were purged
	sig  chan struct{}

	failLast atomic.Int32 // LastEventID fails this many more times
	failAll  atomic.Int32 // reads of every account fail this many more times
	goneAll  atomic.Int32 // reads of every account find their events purged this many more times
	*mocks.EventsMock
}

func newMemEvents() *memEvents {
	m := &memEvents{sig: make(chan struct{}, 1)}
	m.EventsMock = &mocks.EventsMock{
		EventsAfterFunc: m.eventsAfter,
		LastEventIDFunc: func(ctx context.Context) (domain.EventID, error) {
			if m.failLast.Add(-1) >= 0 {
				return 0, errors.New("database is locked")
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.gone + domain.EventID(len(m.evs)), nil
		},
	}
	return m
}

func (m *memEvents) eventsAfter(ctx context.Context, q ports.EventQuery) ([]domain.OrderEvent, error) {
	if q.Account == "" && m.failAll.Add(-1) >= 0 {
		return nil, errors.New("database is locked")
	}
	if q.Account == "" && m.goneAll.Add(-1) >= 0 {
		return nil, fmt.Errorf("after %d: %w", q.After, domain.ErrEventsGone)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if q.After > 0 && q.After < m.gone {
		return nil, fmt.Errorf("after %d: %w", q.After, domain.ErrEventsGone)
	}
	var out []domain.OrderEvent
	for _, ev := range m.evs {
		if ev.ID > q.After && (q.Account == "" || ev.Account == q.Account) {
			out = append(out, ev)
			if len(out) == q.Limit {
				break
			}
		}
	}
	return out, nil
}

// add stores an event of account and signals it.
func (m *memEvents) add(account domain.Account) domain.OrderEvent {
	m.mu.Lock()
	ev := domain.OrderEvent{ID: m.gone + domain.EventID(len(m.evs)) + 1, Account: account, Type: domain.EventCreated, OccurredAt: t0}
	m.evs = append(m.evs, ev)
	m.mu.Unlock()
	select {
	case m.sig <- struct{}{}:
	default:
	}
	return ev
}

// of returns account's events after after.
func (m *memEvents) of(account domain.Account, after domain.EventID) []domain.OrderEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.OrderEvent
	for _, ev := range m.evs {
		if ev.Account == account && ev.ID > after {
			out = append(out, ev)
		}
	}
	return out
}

func (m *memEvents) signal() *mocks.EventSignalMock {
	return &mocks.EventSignalMock{EventsSignalFunc: func() (<-chan struct{}, func()) { return m.sig, func() {} }}
}

func newEventMetricsMock() *mocks.EventMetricsMock {
	return &mocks.EventMetricsMock{
		StreamOpenedFunc:   func() {},
		StreamClosedFunc:   func() {},
		EventsStreamedFunc: func(n int) {},
		StreamDroppedFunc:  func() {},
		WebhookAttemptFunc: func(ports.DeliveryResult, time.Duration) {},
	}
}

// startHub runs a hub over store until the test ends; stop ends it sooner.
func startHub(t *testing.T, store *memEvents, m ports.EventMetrics, cfg app.HubConfig) (h *app.EventHub, stop func()) {
	t.Helper()
	if cfg.Poll == 0 {
		cfg.Poll = time.Millisecond
	}
	h = app.NewEventHub(store, store.signal(), m, quietLogger(), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := h.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return h, stop
}

// next receives one event from s, failing the test after a deadline; ok is
// false if the stream ended.
func next(t *testing.T, s app.EventStream) (domain.OrderEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-s.Events():
		if !ok {
			return domain.OrderEvent{}, false
		}
		return *ev, true
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
		return domain.OrderEvent{}, false
	}
}

// drain reads s until it ends and returns what it read.
func drain(t *testing.T, s app.EventStream) []domain.OrderEvent {
	t.Helper()
	var out []domain.OrderEvent
	for {
		ev, ok := next(t, s)
		if !ok {
			return out
		}
		out = append(out, ev)
	}
}

func subscribe(t *testing.T, h *app.EventHub, account domain.Account, after domain.EventID) app.EventStream {
	t.Helper()
	s, err := h.Subscribe(context.Background(), account, after)
	if err != nil {
		t.Fatalf("Subscribe(%s, %d): %v", account, after, err)
	}
	t.Cleanup(s.Close)
	return s
}

func ids(evs []domain.OrderEvent) []domain.EventID {
	out := make([]domain.EventID, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// TestHubHandsOverFromBackfillToLiveWithoutGapOrDuplicate subscribes while
// events are being appended, from random points in the past, with pages
// small enough that catching up takes several reads: every subscriber must
// see exactly its account's events after its point, in order.
func TestHubHandsOverFromBackfillToLiveWithoutGapOrDuplicate(t *testing.T) {
	accounts := []domain.Account{"acc-a", "acc-b", "acc-c"}
	for run := range 40 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			store := newMemEvents()
			for i := range 40 {
				store.add(accounts[i%len(accounts)])
			}
			h, _ := startHub(t, store, nil, app.HubConfig{Buffer: 10000, Page: 4})

			type sub struct {
				account domain.Account
				after   domain.EventID
				s       app.EventStream
			}
			var (
				mu   sync.Mutex
				subs []sub
				wg   sync.WaitGroup
			)
			const total = 300
			for i := range total {
				ev := store.add(accounts[rand.IntN(len(accounts))])
				if i%30 == 0 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						a := accounts[rand.IntN(len(accounts))]
						after := domain.EventID(rand.Int64N(int64(ev.ID) + 1))
						s, err := h.Subscribe(context.Background(), a, after)
						if err != nil {
							t.Errorf("Subscribe: %v", err)
							return
						}
						mu.Lock()
						subs = append(subs, sub{a, after, s})
						mu.Unlock()
					}()
				}
				runtime.Gosched()
			}
			wg.Wait()
			for _, sb := range subs {
				want := store.of(sb.account, sb.after)
				got := make([]domain.OrderEvent, 0, len(want))
				for len(got) < len(want) {
					ev, ok := next(t, sb.s)
					if !ok {
						t.Fatalf("stream of %s after %d ended early: %v", sb.account, sb.after, sb.s.Err())
					}
					got = append(got, ev)
				}
				if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
					t.Errorf("stream of %s after %d (-want +got):\n%s", sb.account, sb.after, diff)
				}
				sb.s.Close()
			}
		})
	}
}

func TestHubDropsASlowClientWhileAFastOneContinues(t *testing.T) {
	store := newMemEvents()
	m := newEventMetricsMock()
	h, _ := startHub(t, store, m, app.HubConfig{Buffer: 3})
	fast := subscribe(t, h, "acc", 0)
	slow := subscribe(t, h, "acc", 0)
	waitFor(t, "both streams live", func() bool { return app.LiveStreams(h, "acc") == 2 })

	var sent []domain.OrderEvent
	for range 10 {
		ev := store.add("acc")
		sent = append(sent, ev)
		if got, ok := next(t, fast); !ok || got.ID != ev.ID {
			t.Fatalf("fast client got %d (open %v); want %d", got.ID, ok, ev.ID)
		}
	}
	if got := drain(t, slow); !cmp.Equal(ids(got), ids(sent[:3])) {
		t.Errorf("slow client got %v before it was dropped; want the %v its buffer held", ids(got), ids(sent[:3]))
	}
	if err := slow.Err(); !errors.Is(err, app.ErrStreamTooSlow) {
		t.Errorf("slow client's Err = %v; want ErrStreamTooSlow", err)
	}
	if n := len(m.StreamDroppedCalls()); n != 1 {
		t.Errorf("StreamDropped calls = %d; want 1", n)
	}
	if n := app.LiveStreams(h, "acc"); n != 1 {
		t.Errorf("live streams after the drop = %d; want 1", n)
	}
}

func TestHubSubscribeReturnsEventsGone(t *testing.T) {
	store := newMemEvents()
	store.gone = 5 // as if a purge had deleted events 1 to 5
	for range 10 {
		store.add("acc")
	}
	m := newEventMetricsMock()
	h, _ := startHub(t, store, m, app.HubConfig{})
	_, err := h.Subscribe(context.Background(), "acc", 3)
	if !errors.Is(err, domain.ErrEventsGone) {
		t.Fatalf("Subscribe after a purged ID: %v; want an error wrapping ErrEventsGone", err)
	}
	if n := len(m.StreamOpenedCalls()); n != 0 {
		t.Errorf("StreamOpened calls = %d; want 0", n)
	}
}

func TestHubKeepsAccountsApart(t *testing.T) {
	store := newMemEvents()
	a1 := store.add("acc-a")
	store.add("acc-b")
	a2 := store.add("acc-a")
	h, _ := startHub(t, store, nil, app.HubConfig{})
	s := subscribe(t, h, "acc-a", 0)
	waitFor(t, "the stream live", func() bool { return app.LiveStreams(h, "acc-a") == 1 })
	store.add("acc-b")
	a3 := store.add("acc-a")
	var got []domain.OrderEvent
	for range 3 {
		ev, _ := next(t, s)
		got = append(got, ev)
	}
	if want := []domain.OrderEvent{a1, a2, a3}; !cmp.Equal(ids(got), ids(want)) {
		t.Errorf("acc-a's stream = %v; want %v", ids(got), ids(want))
	}
}

func TestHubSurvivesStoreErrors(t *testing.T) {
	store := newMemEvents()
	store.failLast.Store(3)
	store.failAll.Store(5)
	m := newEventMetricsMock()
	h, _ := startHub(t, store, m, app.HubConfig{})
	s := subscribe(t, h, "acc", 0) // waits out the failing LastEventID
	waitFor(t, "the stream live", func() bool { return app.LiveStreams(h, "acc") == 1 })
	ev := store.add("acc")
	if got, ok := next(t, s); !ok || got.ID != ev.ID {
		t.Fatalf("got %d (open %v); want event %d once the store recovers", got.ID, ok, ev.ID)
	}
	if n := store.failAll.Load(); n >= 0 {
		t.Errorf("the hub's reads failed only %d times; the test wanted 5 failures", 5-n)
	}
}

func TestHubStreamEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(cancel context.CancelFunc, s app.EventStream, stopHub func())
		want error
	}{
		{"close", func(_ context.CancelFunc, s app.EventStream, _ func()) { s.Close() }, app.ErrStreamClosed},
		{"close twice", func(_ context.CancelFunc, s app.EventStream, _ func()) { s.Close(); s.Close() }, app.ErrStreamClosed},
		{"context", func(cancel context.CancelFunc, _ app.EventStream, _ func()) { cancel() }, context.Canceled},
		{"hub stops", func(_ context.CancelFunc, _ app.EventStream, stopHub func()) { stopHub() }, app.ErrHubStopped},
	}
	for _, tt := range tests {
		for _, live := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/live=%v", tt.name, live), func(t *testing.T) {
				store := newMemEvents()
				m := newEventMetricsMock()
				// Not live: ten stored events and a buffer of two keep the
				// stream catching up, blocked on its client.
				if !live {
					for range 10 {
						store.add("acc")
					}
				}
				h, stopHub := startHub(t, store, m, app.HubConfig{Buffer: 2, Page: 2})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				s, err := h.Subscribe(ctx, "acc", 0)
				if err != nil {
					t.Fatal(err)
				}
				if live {
					waitFor(t, "the stream live", func() bool { return app.LiveStreams(h, "acc") == 1 })
				}
				tt.end(cancel, s, stopHub)
				drain(t, s)
				if err := s.Err(); !errors.Is(err, tt.want) {
					t.Errorf("Err = %v; want %v", err, tt.want)
				}
				waitFor(t, "the stream counted closed", func() bool { return len(m.StreamClosedCalls()) == 1 })
				if n := len(m.StreamOpenedCalls()); n != 1 {
					t.Errorf("StreamOpened calls = %d; want 1", n)
				}
				if n := app.LiveStreams(h, "acc"); n != 0 {
					t.Errorf("live streams after the end = %d; want 0", n)
				}
			})
		}
	}
}

func TestHubSubscribeAfterStopFails(t *testing.T) {
	store := newMemEvents()
	h, stop := startHub(t, store, nil, app.HubConfig{})
	s := subscribe(t, h, "acc", 0)
	stop()
	drain(t, s)
	if _, err := h.Subscribe(context.Background(), "acc", 0); !errors.Is(err, app.ErrHubStopped) {
		t.Errorf("Subscribe after Run returned: %v; want ErrHubStopped", err)
	}
}

func TestHubCountsStreamedEvents(t *testing.T) {
	store := newMemEvents()
	for range 5 {
		store.add("acc")
	}
	m := newEventMetricsMock()
	h, _ := startHub(t, store, m, app.HubConfig{Page: 2})
	s := subscribe(t, h, "acc", 0)
	waitFor(t, "the stream live", func() bool { return app.LiveStreams(h, "acc") == 1 })
	store.add("acc")
	for range 6 {
		next(t, s)
	}
	sum := func() int {
		n := 0
		for _, c := range m.EventsStreamedCalls() {
			n += c.N
		}
		return n
	}
	waitFor(t, "six events counted", func() bool { return sum() == 6 })
}

// TestHubThatFellBehindEndsItsStreamsAndGoesOn makes the hub's own read
// find its next events purged: its streams end (their clients resume or
// learn their events are gone) and new streams work.
func TestHubThatFellBehindEndsItsStreamsAndGoesOn(t *testing.T) {
	store := newMemEvents()
	h, _ := startHub(t, store, nil, app.HubConfig{})
	old := subscribe(t, h, "acc", 0)
	waitFor(t, "the stream live", func() bool { return app.LiveStreams(h, "acc") == 1 })
	store.goneAll.Store(1)
	drain(t, old)
	if err := old.Err(); !errors.Is(err, domain.ErrEventsGone) {
		t.Errorf("Err of a stream the hub could not follow = %v; want ErrEventsGone", err)
	}
	s := subscribe(t, h, "acc", 0)
	waitFor(t, "the new stream live", func() bool { return app.LiveStreams(h, "acc") == 1 })
	ev := store.add("acc")
	if got, ok := next(t, s); !ok || got.ID != ev.ID {
		t.Fatalf("new stream got %d (open %v); want %d", got.ID, ok, ev.ID)
	}
}

func TestHubSubscribeWaitsForRun(t *testing.T) {
	store := newMemEvents()
	h := app.NewEventHub(store, nil, nil, quietLogger(), app.HubConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.Subscribe(ctx, "acc", 0)
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("Subscribe returned %v before Run started", err)
	default:
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe with its context cancelled while waiting = %v; want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe did not return when its context ended")
	}
}

// TestHubBackfillReadsOnlyAsFastAsTheClient catches up a client over a
// long history: the store is read a page at a time as the client takes
// events, never the whole history ahead of it.
func TestHubBackfillReadsOnlyAsFastAsTheClient(t *testing.T) {
	store := newMemEvents()
	for range 100 {
		store.add("acc")
	}
	const page = 4
	h, _ := startHub(t, store, nil, app.HubConfig{Buffer: page, Page: page, Poll: time.Hour})
	s := subscribe(t, h, "acc", 0)
	reads := func() int {
		n := 0
		for _, c := range store.EventsAfterCalls() {
			if c.Q.Account == "acc" {
				n++
			}
		}
		return n
	}
	for i := 1; i <= 100; i++ {
		ev, ok := next(t, s)
		if !ok || ev.ID != domain.EventID(i) {
			t.Fatalf("event %d: got %d (open %v)", i, ev.ID, ok)
		}
		// A full channel and one page in hand: at most two pages ahead.
		if r, most := reads(), i/page+3; r > most {
			t.Fatalf("after the client took %d events the store was read %d times; want at most %d", i, r, most)
		}
	}
}

// With no stream live the hub reads only the last event ID, not the events
// themselves; a stream that starts later still gets every event, stored
// and live.
func TestIdleHubReadsNoEvents(t *testing.T) {
	store := newMemEvents()
	h, _ := startHub(t, store, nil, app.HubConfig{Page: 16})
	for range 200 {
		store.add("acc")
	}
	waitFor(t, "the hub past every event", func() bool { return len(store.LastEventIDCalls()) > 3 })
	for _, c := range store.EventsAfterCalls() {
		if c.Q.Account == "" {
			t.Fatalf("an idle hub read events: %+v", c.Q)
		}
	}
	s := subscribe(t, h, "acc", 0)
	waitFor(t, "the stream live", func() bool { return app.LiveStreams(h, "acc") == 1 })
	live := store.add("acc")
	got := make([]domain.OrderEvent, 0, 201)
	for len(got) < 201 {
		ev, ok := next(t, s)
		if !ok {
			t.Fatalf("stream ended after %d events: %v", len(got), s.Err())
		}
		got = append(got, ev)
	}
	if diff := cmp.Diff(ids(store.of("acc", 0)), ids(got)); diff != "" || got[200].ID != live.ID {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
}
