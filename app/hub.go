package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// HubConfig tunes an EventHub. Zero fields take the defaults below.
type HubConfig struct {
	// Buffer is how many events a client may fall behind live events
	// before it is disconnected with ErrStreamTooSlow (default 1024). The
	// buffer holds pointers (8 bytes each, allocated when the stream
	// opens); the events themselves are shared by the account's streams.
	Buffer int
	// Poll is how often the hub looks for new events when no signal comes
	// (default 1 s).
	Poll time.Duration
	// Page is how many events one store read returns at most (default 500).
	Page int
}

// Defaults of HubConfig.
const (
	DefaultHubBuffer = 1024
	DefaultHubPoll   = time.Second
	DefaultHubPage   = 500
)

// ErrHubStopped ends the streams of an EventHub whose Run returned, and is
// returned by Subscribe once it has.
var ErrHubStopped = errors.New("event hub stopped")

// ErrStreamClosed is the Err of a stream ended by its Close.
var ErrStreamClosed = errors.New("event stream closed")

// EventHub reads every account's new events from the store once and fans
// them out to the account's subscribers, so that many stream clients cost
// one reader. A subscriber first catches up from the store, page by page,
// then receives live events; it sees every event of its account after the
// one it asked for, in ID order, each once. A subscriber that falls more
// than Buffer events behind is disconnected; nobody waits for it.
type EventHub struct {
	events ports.Events
	signal ports.EventSignal
	m      ports.EventMetrics
	log    *slog.Logger
	cfg    HubConfig

	ready chan struct{} // closed once pos is known
	done  chan struct{} // closed when Run returns

	mu      sync.Mutex
	pos     domain.EventID // every event up to pos was fanned out
	stopped bool
	subs    map[domain.Account]map[*subscription]struct{}
}

// NewEventHub returns a hub reading events, woken by signal (nil: it only
// polls) and measured by m (nil: not measured). Run must run for
// subscriptions to start and receive events.
func NewEventHub(events ports.Events, signal ports.EventSignal, m ports.EventMetrics, log *slog.Logger, cfg HubConfig) *EventHub {
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultHubBuffer
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultHubPoll
	}
	if cfg.Page <= 0 {
		cfg.Page = DefaultHubPage
	}
	if m == nil {
		m = nopEventMetrics{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &EventHub{
		events: events,
		signal: signal,
		m:      m,
		log:    log.With("component", "event_hub"),
		cfg:    cfg,
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
		subs:   map[domain.Account]map[*subscription]struct{}{},
	}
}

// Run reads new events until ctx ends, starting after the last event
// stored: after every signal and at least every Poll. Store errors are
// logged and retried at the next tick. When it returns every stream ends
// with ErrHubStopped. It returns nil.
func (h *EventHub) Run(ctx context.Context) error {
	defer h.stop()
	var sig <-chan struct{}
	if h.signal != nil {
		c, stop := h.signal.EventsSignal()
		defer stop()
		sig = c
	}
	tick := time.NewTicker(h.cfg.Poll)
	defer tick.Stop()
	started := false
	for {
		if !started {
			started = h.start(ctx)
		}
		if started {
			h.catchUp(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-sig:
		case <-tick.C:
		}
	}
}

// start sets the hub's position to the last event stored.
func (h *EventHub) start(ctx context.Context) bool {
	id, ok := h.lastEventID(ctx)
	if !ok {
		return false
	}
	h.mu.Lock()
	h.pos = id
	h.mu.Unlock()
	close(h.ready)
	h.log.Info("event hub started", "after", id)
	return true
}

// catchUp reads and fans out every event after the hub's position.
func (h *EventHub) catchUp(ctx context.Context) {
	if h.idle(ctx) {
		return
	}
	for ctx.Err() == nil {
		h.mu.Lock()
		pos := h.pos
		h.mu.Unlock()
		page, err := h.events.EventsAfter(ctx, ports.EventQuery{After: pos, Limit: h.cfg.Page})
		switch {
		case errors.Is(err, domain.ErrEventsGone):
			h.skip(ctx, err)
			return
		case err != nil:
			if ctx.Err() == nil {
				h.log.Error("read new events; retrying", "after", pos, "err", err)
			}
			return
		}
		if len(page) > 0 {
			h.fanOut(page)
		}
		if len(page) < h.cfg.Page {
			return
		}
	}
}

// idle moves the hub's position to the last event stored, with one cheap
// read instead of reading every new event, if no stream is live: there is
// nobody to fan them out to. It reports whether it did. A stream still
// catching up reads on until it has passed the new position (see
// backfill), and one that went live meanwhile keeps the hub reading.
func (h *EventHub) idle(ctx context.Context) bool {
	h.mu.Lock()
	idle := len(h.subs) == 0
	h.mu.Unlock()
	if !idle {
		return false
	}
	id, ok := h.lastEventID(ctx)
	if !ok {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) > 0 {
		return false
	}
	h.pos = max(h.pos, id)
	return true
}

// lastEventID reads the last event ID stored; a failure is logged, to be
// retried at the next tick.
func (h *EventHub) lastEventID(ctx context.Context) (domain.EventID, bool) {
	id, err := h.events.LastEventID(ctx)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Error("read the last event ID; retrying", "err", err)
		}
		return 0, false
	}
	return id, true
}

// skip handles a hub that fell so far behind that its next events were
// purged: every stream ends (its client resumes, or learns its events are
// gone) and the hub goes on from the last event stored.
func (h *EventHub) skip(ctx context.Context, cause error) {
	id, err := h.events.LastEventID(ctx)
	if err != nil {
		h.log.Error("read the last event ID; retrying", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log.Error("event hub fell behind the events kept; ending every stream", "from", h.pos, "to", id, "err", cause)
	for _, subs := range h.subs {
		for s := range subs {
			h.end(s, cause)
		}
	}
	h.pos = id
}

// fanOut hands page, the events after the hub's position, to their
// accounts' subscribers without blocking, and moves the position past it.
func (h *EventHub) fanOut(page []domain.OrderEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range page {
		subs := h.subs[page[i].Account]
		if len(subs) == 0 {
			continue
		}
		// One copy per event, shared by the account's streams: a pointer
		// into page would keep the whole page alive while one slow
		// stream holds it.
		ev := new(domain.OrderEvent)
		*ev = page[i]
		for s := range subs {
			if ev.ID <= s.last {
				continue // the subscriber read it while catching up
			}
			select {
			case s.ch <- ev:
				s.last = ev.ID
				h.m.EventsStreamed(1)
			default:
				h.m.StreamDropped()
				h.log.Info("event stream client too slow; disconnected", "account", string(ev.Account), "last_event_id", s.last)
				h.end(s, ErrStreamTooSlow)
			}
		}
	}
	h.pos = page[len(page)-1].ID
}

// stop ends every stream and refuses new ones.
func (h *EventHub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	for _, subs := range h.subs {
		for s := range subs {
			h.end(s, ErrHubStopped)
		}
	}
	close(h.done)
}

// Subscribe returns account's events after after: first those stored, then
// live ones. It waits for Run to have started. The first store read runs
// before it returns, so an error wrapping domain.ErrEventsGone (after is
// older than what is kept) or another store error comes from Subscribe
// itself. The stream ends when ctx ends, on Close, when the client falls
// behind, or when the hub stops.
func (h *EventHub) Subscribe(ctx context.Context, account domain.Account, after domain.EventID) (EventStream, error) {
	select {
	case <-h.ready:
	case <-h.done:
		return nil, ErrHubStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	h.mu.Lock()
	p, stopped := h.pos, h.stopped
	h.mu.Unlock()
	if stopped {
		return nil, ErrHubStopped
	}
	page, err := h.read(ctx, account, after)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	s := &subscription{hub: h, account: account, ch: make(chan *domain.OrderEvent, h.cfg.Buffer), ctx: sctx, cancel: cancel}
	h.m.StreamOpened()
	// A live stream ends here when its context does; one still catching
	// up ends in its own goroutine.
	context.AfterFunc(sctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if s.live {
			h.end(s, context.Cause(sctx))
		}
	})
	go h.backfill(s, p, after, page)
	return s, nil
}

// read returns up to Page of account's events after after.
func (h *EventHub) read(ctx context.Context, account domain.Account, after domain.EventID) ([]domain.OrderEvent, error) {
	page, err := h.events.EventsAfter(ctx, ports.EventQuery{Account: account, After: after, Limit: h.cfg.Page})
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return page, nil
}

// backfill hands s the stored events after last, page by page, starting
// with page, until it has read past the hub's position p; then it makes s
// live if the hub is still at p (or s is past the hub), and reads on
// otherwise. Registering only
// at an unchanged position is what makes the hand-over exact: the hub has
// fanned out every event up to p and none after, and s has read every
// event of its account up to p.
func (h *EventHub) backfill(s *subscription, p, last domain.EventID, page []domain.OrderEvent) {
	for {
		full := len(page) == h.cfg.Page
		if len(page) > 0 {
			// Pointers into the subscriber's own page: it lives as long
			// as the buffer holds one of them, at most Buffer events.
			for i := range page {
				select {
				case s.ch <- &page[i]:
				case <-s.ctx.Done():
					h.finish(s, context.Cause(s.ctx))
					return
				case <-h.done:
					h.finish(s, ErrHubStopped)
					return
				}
			}
			h.m.EventsStreamed(len(page))
			last = page[len(page)-1].ID
		}
		// A short page is everything stored now, so every event up to p.
		if !full || last >= p {
			h.mu.Lock()
			switch {
			case h.stopped:
				h.end(s, ErrHubStopped)
			case s.ctx.Err() != nil:
				h.end(s, context.Cause(s.ctx))
			// Or if s has read past wherever the hub is now: IDs follow
			// commit order, so s has every event of its account up to
			// last, and the hub every event up to its position.
			case h.pos == p || last >= h.pos:
				s.live, s.last = true, last
				if h.subs[s.account] == nil {
					h.subs[s.account] = map[*subscription]struct{}{}
				}
				h.subs[s.account][s] = struct{}{}
			}
			done := s.ended || s.live
			p = h.pos
			h.mu.Unlock()
			if done {
				return
			}
		}
		var err error
		if page, err = h.read(s.ctx, s.account, last); err != nil {
			if s.ctx.Err() != nil {
				err = context.Cause(s.ctx)
			} else {
				h.log.Error("read events for a stream; ending it", "account", string(s.account), "err", err)
			}
			h.finish(s, err)
			return
		}
	}
}

// finish ends s under the hub's lock.
func (h *EventHub) finish(s *subscription, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.end(s, err)
}

// end ends s with err, once: it leaves the hub and its channel closes.
// h.mu must be held.
func (h *EventHub) end(s *subscription, err error) {
	if s.ended {
		return
	}
	s.ended, s.err = true, err
	if s.live {
		delete(h.subs[s.account], s)
		if len(h.subs[s.account]) == 0 {
			delete(h.subs, s.account)
		}
	}
	close(s.ch)
	s.cancel(err)
	h.m.StreamClosed()
}

// subscription is the EventStream Subscribe returns. Until it is live only
// its backfill goroutine sends on ch; once live only the hub does, under
// the hub's lock. Either closes ch, under the lock, through end.
type subscription struct {
	hub     *EventHub
	account domain.Account
	ch      chan *domain.OrderEvent
	ctx     context.Context
	cancel  context.CancelCauseFunc

	// Guarded by hub.mu.
	live  bool
	last  domain.EventID // the last event sent; live events must be after it
	ended bool
	err   error
}

func (s *subscription) Events() <-chan *domain.OrderEvent { return s.ch }

func (s *subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

func (s *subscription) Close() { s.cancel(ErrStreamClosed) }

// nopEventMetrics discards event measurements.
type nopEventMetrics struct{}

func (nopEventMetrics) StreamOpened()                                      {}
func (nopEventMetrics) StreamClosed()                                      {}
func (nopEventMetrics) EventsStreamed(int)                                 {}
func (nopEventMetrics) StreamDropped()                                     {}
func (nopEventMetrics) WebhookAttempt(ports.DeliveryResult, time.Duration) {}
