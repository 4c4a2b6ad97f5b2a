package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordergate/ordergate/ports"
)

// eventsChannel is the PostgreSQL notification channel SequenceEvents
// notifies once it has numbered events.
const eventsChannel = "ordergate_events"

// broadcaster hands a hint to every subscriber without ever blocking: each
// has a channel with room for one value, and a value already waiting says
// all a second one would.
type broadcaster struct {
	mu     sync.Mutex
	subs   map[chan struct{}]struct{}
	closed bool
}

func (b *broadcaster) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// subscribe returns a new subscriber's channel and the function that
// removes it and closes the channel; nil after close.
func (b *broadcaster) subscribe() (chan struct{}, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan struct{}, 1)
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	if b.subs == nil {
		b.subs = map[chan struct{}]struct{}{}
	}
	b.subs[ch] = struct{}{}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// close closes every subscriber's channel; later subscribers get a closed
// one.
func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}

// listener relays PostgreSQL notifications on eventsChannel to a
// broadcaster, on a connection of its own, reconnecting with backoff.
type listener struct {
	dsn    string
	out    *broadcaster
	once   sync.Once
	cancel context.CancelFunc
	done   chan struct{}
	// listening is true while a connection listens: tests wait for it.
	listening atomic.Bool
}

// start runs the listener, once.
func (l *listener) start() {
	l.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		l.cancel, l.done = cancel, make(chan struct{})
		go l.run(ctx)
	})
}

// stop ends the listener and waits for it.
func (l *listener) stop() {
	l.once.Do(func() {}) // never starts after stop
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
}

func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if l.listen(ctx) {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen connects, listens and relays until the connection fails; it
// reports whether it got as far as listening.
func (l *listener) listen(ctx context.Context) bool {
	conn, err := pgx.Connect(ctx, l.dsn)
	if err != nil {
		return false
	}
	defer func() {
		l.listening.Store(false)
		// ctx is done by now if Close ended the listener.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return false
	}
	if _, err := conn.Exec(ctx, "LISTEN "+eventsChannel); err != nil {
		return false
	}
	l.listening.Store(true)
	// Notifications sent while no connection listened are lost: readers
	// look once, in case.
	l.out.notify()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true
		}
		if n.Payload == "" || n.Payload == schema {
			l.out.notify()
		}
	}
}

// EventsSignal returns a channel that receives a value, without blocking
// the sender, when events may have become readable: on SQLite after this
// process committed events; on PostgreSQL after any process numbered them
// (this one's sequencer, or LISTEN ordergate_events, on a connection of its
// own, started by the first call and stopped by Close), not at their
// commit, when readers would find nothing new yet. The function returned
// stops the signals and closes the channel; Close closes every channel.
func (d *DB) EventsSignal() (<-chan struct{}, func()) {
	ch, stop := d.signal.subscribe()
	if d.listener != nil {
		d.listener.start()
	}
	return ch, stop
}

// WrittenSignal returns the signal of this process's commits that wrote
// events, for the sequencer (app.RunEventSequencer): on PostgreSQL they
// are readable once it has numbered them, which EventsSignal then says.
func (d *DB) WrittenSignal() ports.EventSignal { return writtenSignal{d} }

type writtenSignal struct{ d *DB }

func (w writtenSignal) EventsSignal() (<-chan struct{}, func()) {
	return w.d.written.subscribe()
}
