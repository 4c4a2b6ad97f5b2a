package store

import (
	"context"
	"slices"
	"sync"
)

// writeClass says whether a write transaction serves a request that waits
// for it or can wait itself. Every write names its class, so that nothing
// is classified by accident.
type writeClass uint8

const (
	// intake writes answer a client who is waiting: the group commits of
	// creates, CreateOnce, a client's cancel request, and the rare admin
	// writes (keys, webhooks).
	intake writeClass = iota
	// background writes can wait: settles, claims, releases, reports,
	// deliveries, purges, TouchKeys and leases.
	background
)

// maxStreak is how many intake transactions in a row may take the SQLite
// writer while a background one waits. A create batch commits in a few
// milliseconds, so a background write waits for at most that many batches.
const maxStreak = 8

// prioLock is a mutual exclusion lock whose waiters are served by class:
// a waiting intake write gets it before any waiting background write,
// except that after maxStreak intake grants in a row a waiting background
// write takes its turn. Within a class it is first come, first served.
// Unlock hands the lock straight to the next waiter. The zero value is an
// unlocked lock.
type prioLock struct {
	mu     sync.Mutex
	held   bool
	streak int // intake grants in a row while background waited
	queue  [2][]chan struct{}
	// fifo serves every class as one, in arrival order: the benchmark's
	// baseline without priority.
	fifo bool
}

// lock waits for the lock, as cls, until ctx ends. It returns ctx's error,
// without holding the lock, if ctx ended first.
func (l *prioLock) lock(ctx context.Context, cls writeClass) error {
	l.mu.Lock()
	if l.fifo {
		cls = intake
	}
	if !l.held {
		l.held, l.streak = true, 0
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.queue[cls] = append(l.queue[cls], ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := slices.Index(l.queue[cls], ch); i >= 0 {
		l.queue[cls] = slices.Delete(l.queue[cls], i, i+1)
		return ctx.Err()
	}
	// Granted as ctx ended: pass it on, as if it had been taken and freed.
	l.handOff()
	return ctx.Err()
}

// unlock frees the lock, or hands it to the waiter whose turn it is.
func (l *prioLock) unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		panic("store: unlock of an unlocked write lock")
	}
	l.handOff()
}

// handOff passes the held lock to the next waiter, or frees it. l.mu is
// held.
func (l *prioLock) handOff() {
	in, bg := len(l.queue[intake]), len(l.queue[background])
	var next writeClass
	switch {
	case in > 0 && (bg == 0 || l.streak < maxStreak):
		next = intake
		if bg > 0 {
			l.streak++
		} else {
			l.streak = 0
		}
	case bg > 0:
		next, l.streak = background, 0
	default:
		l.held, l.streak = false, 0
		return
	}
	ch := l.queue[next][0]
	l.queue[next] = slices.Delete(l.queue[next], 0, 1)
	close(ch)
}
