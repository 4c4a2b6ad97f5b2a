package store

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// maxBatch bounds how many writes one group commit carries.
const maxBatch = 256

// batchTimeout bounds one group commit. A caller waits for its batch even
// if its own context ends: abandoning it could leave a committed order
// behind an error answer.
const batchTimeout = 30 * time.Second

// errClosed is returned by writes after Close.
var errClosed = errors.New("store: closed")

// groupCommit coalesces concurrent writes of one kind into shared
// transactions. Each committer takes the writes waiting when it is free, up
// to maxBatch, and commits them together: under load many writes share one
// commit (and one fsync); alone, a write commits at once. If a shared
// commit fails, each write is retried in a transaction of its own, so one
// bad write fails alone and every caller gets its own result.
type groupCommit[T any] struct {
	in      chan groupReq[T]
	closing chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	// all writes every item in one transaction.
	all func(ctx context.Context, items []T) error
	// one writes a single item in its own transaction.
	one func(ctx context.Context, item T) error
}

type groupReq[T any] struct {
	item T
	done chan error
}

func newGroupCommit[T any](committers int, all func(context.Context, []T) error, one func(context.Context, T) error) *groupCommit[T] {
	g := &groupCommit[T]{in: make(chan groupReq[T]), closing: make(chan struct{}), all: all, one: one}
	for range committers {
		g.wg.Add(1)
		go g.run()
	}
	return g
}

func (g *groupCommit[T]) run() {
	defer g.wg.Done()
	batch := make([]groupReq[T], 0, maxBatch)
	items := make([]T, 0, maxBatch)
	for {
		select {
		case <-g.closing:
			return
		case r := <-g.in:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-g.in:
				batch = append(batch, r)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		items = items[:0]
		for _, r := range batch {
			items = append(items, r.item)
		}
		if len(batch) > 1 && g.all(ctx, items) == nil {
			for _, r := range batch {
				r.done <- nil
			}
		} else {
			for _, r := range batch {
				r.done <- g.one(ctx, r.item)
			}
		}
		cancel()
	}
}

// do queues item and waits until it is committed or has failed.
func (g *groupCommit[T]) do(ctx context.Context, item T) error {
	r := groupReq[T]{item: item, done: make(chan error, 1)}
	select {
	case g.in <- r:
	case <-g.closing:
		return errClosed
	case <-ctx.Done():
		return ctx.Err() // not queued: nothing was written
	}
	return <-r.done
}

// close stops the committers once the batches under way are done.
func (g *groupCommit[T]) close() {
	g.once.Do(func() { close(g.closing) })
	g.wg.Wait()
}

// once runs write and, if it failed in a way that may hide a commit whose
// answer was lost, runs it again: the write must be idempotent. A domain
// error (a lost lease, an unknown order, a refused transition) is a
// definite answer.
func once(write func() error) error {
	err := write()
	if err != nil && !definite(err) {
		err = write()
	}
	return err
}

// onceOr is once for a write whose second run may find the first one's
// commit: if the second fails with gone (what it changes is no longer
// there) and committed confirms the first run's effect, the write
// succeeded.
func onceOr(write func() error, gone error, committed func() bool) error {
	err := write()
	if err != nil && !definite(err) {
		if err = write(); errors.Is(err, gone) && committed() {
			return nil
		}
	}
	return err
}

// definite reports whether err is the database's definite answer rather
// than a failure that may hide a commit.
func definite(err error) bool {
	for _, e := range []error{domain.ErrLeaseLost, domain.ErrNotFound, domain.ErrTransition, domain.ErrInvalid, domain.ErrConflict, domain.ErrKeyReused} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
