package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// lockHarness queues named waiters on a held prioLock one at a time, and
// replays the grants: a waiter that gets the lock reports its name, and the
// test unlocks on its behalf, so the order of grants is the lock's alone.
type lockHarness struct {
	t   *testing.T
	l   *prioLock
	got chan string
}

func newLockHarness(t *testing.T, fifo bool) *lockHarness {
	t.Helper()
	h := &lockHarness{t: t, l: &prioLock{fifo: fifo}, got: make(chan string, 64)}
	if err := h.l.lock(context.Background(), intake); err != nil {
		t.Fatal(err)
	}
	return h
}

// queue starts a waiter of class cls and returns once it waits.
func (h *lockHarness) queue(name string, cls writeClass) {
	h.t.Helper()
	before := h.waiting()
	go func() {
		if err := h.l.lock(context.Background(), cls); err != nil {
			h.got <- "error: " + err.Error()
			return
		}
		h.got <- name
	}()
	h.waitFor(before + 1)
}

func (h *lockHarness) waiting() int {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	return len(h.l.queue[intake]) + len(h.l.queue[background])
}

func (h *lockHarness) waitFor(n int) {
	h.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); h.waiting() != n; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			h.t.Fatalf("waiters: got %d, want %d", h.waiting(), n)
		}
	}
}

// step unlocks n times and returns who got the lock each time; the last
// of them holds it.
func (h *lockHarness) step(n int) []string {
	h.t.Helper()
	var order []string
	for range n {
		h.l.unlock()
		select {
		case name := <-h.got:
			order = append(order, name)
		case <-time.After(5 * time.Second):
			h.t.Fatalf("no grant after %v", order)
		}
	}
	return order
}

// grants is step, and then frees the lock.
func (h *lockHarness) grants(n int) []string {
	h.t.Helper()
	order := h.step(n)
	h.l.unlock()
	if h.l.held {
		h.t.Fatal("the lock is still held after every waiter unlocked")
	}
	return order
}

func TestPrioLockOrder(t *testing.T) {
	names := func(prefix string, n int) []string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprint(prefix, i))
		}
		return s
	}
	tests := []struct {
		name   string
		fifo   bool
		queued []string // in arrival order; "i..." intake, "b..." background
		want   []string
	}{
		{
			name:   "intake overtakes background",
			queued: []string{"b0", "b1", "i0", "i1"},
			want:   []string{"i0", "i1", "b0", "b1"},
		},
		{
			name:   "first come first served within a class",
			queued: []string{"i0", "b0", "i1", "b1", "i2"},
			want:   []string{"i0", "i1", "i2", "b0", "b1"},
		},
		{
			name:   "background gets its turn after maxStreak intake grants",
			queued: append([]string{"b0", "b1"}, names("i", 2*maxStreak+2)...),
			want: slices.Concat(names("i", 2*maxStreak+2)[:maxStreak], []string{"b0"},
				names("i", 2*maxStreak+2)[maxStreak:2*maxStreak], []string{"b1"},
				names("i", 2*maxStreak+2)[2*maxStreak:]),
		},
		{
			name:   "without priority, arrival order",
			fifo:   true,
			queued: []string{"b0", "i0", "b1", "i1"},
			want:   []string{"b0", "i0", "b1", "i1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLockHarness(t, tt.fifo)
			for _, n := range tt.queued {
				cls := intake
				if n[0] == 'b' {
					cls = background
				}
				h.queue(n, cls)
			}
			if got := h.grants(len(tt.queued)); !slices.Equal(got, tt.want) {
				t.Errorf("grants:\ngot  %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestPrioLockStreakCountsOnlyWhileBackgroundWaits checks that intake
// grants made while no background write waited do not shorten the next
// background writer's wait.
func TestPrioLockStreakCountsOnlyWhileBackgroundWaits(t *testing.T) {
	h := newLockHarness(t, false)
	var all []string
	for i := range 2*maxStreak + 4 {
		all = append(all, fmt.Sprint("i", i))
		h.queue(all[i], intake)
	}
	got := h.step(3)
	h.queue("b0", background)
	got = append(got, h.grants(len(all)-3+1)...)
	want := slices.Concat(all[:3+maxStreak], []string{"b0"}, all[3+maxStreak:])
	if !slices.Equal(got, want) {
		t.Errorf("grants:\ngot  %v\nwant %v", got, want)
	}
}

func TestPrioLockCancelWhileWaiting(t *testing.T) {
	l := &prioLock{}
	if err := l.lock(context.Background(), intake); err != nil {
		t.Fatal(err)
	}
	for _, cls := range []writeClass{intake, background} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.lock(ctx, cls) }()
		for waiting := 0; waiting == 0; {
			l.mu.Lock()
			waiting = len(l.queue[cls])
			l.mu.Unlock()
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("class %d: got %v, want context.Canceled", cls, err)
		}
		if n := len(l.queue[intake]) + len(l.queue[background]); n != 0 {
			t.Fatalf("class %d: %d waiters left after the cancel", cls, n)
		}
	}
	// The canceled waiters released nothing: the first holder still holds.
	if !l.held {
		t.Fatal("the holder lost the lock to a canceled waiter")
	}
	l.unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.lock(ctx, background); err != nil {
		t.Fatalf("lock after the cancels: %v", err)
	}
	l.unlock()
}

// TestPrioLockGrantedAsCanceled grants the lock to a waiter whose context
// has ended: whichever it sees first, it either holds the lock or has
// passed it on, never both nor neither.
func TestPrioLockGrantedAsCanceled(t *testing.T) {
	for i := range 200 {
		l := &prioLock{}
		if err := l.lock(context.Background(), intake); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.lock(ctx, background) }()
		for waiting := 0; waiting == 0; {
			l.mu.Lock()
			waiting = len(l.queue[background])
			l.mu.Unlock()
		}
		l.mu.Lock()
		cancel()
		l.handOff() // grant to the waiter, while its ctx is done
		l.mu.Unlock()
		err := <-done
		l.mu.Lock()
		held := l.held
		l.mu.Unlock()
		switch {
		case err == nil && !held:
			t.Fatalf("try %d: lock returned nil but nobody holds the lock", i)
		case err == nil:
			l.unlock()
		case held:
			t.Fatalf("try %d: lock returned %v but the lock is still held", i, err)
		}
	}
}

// TestPrioLockExclusion runs many writers of both classes under -race: one
// at a time, and every one of them gets through.
func TestPrioLockExclusion(t *testing.T) {
	l := &prioLock{}
	var wg sync.WaitGroup
	inside, total := 0, 0
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if err := l.lock(context.Background(), writeClass(g%2)); err != nil {
					t.Error(err)
					return
				}
				inside++
				if inside != 1 {
					t.Errorf("%d holders at once", inside)
				}
				total++
				inside--
				l.unlock()
			}
		}()
	}
	wg.Wait()
	if total != 16*200 {
		t.Errorf("got %d critical sections, want %d", total, 16*200)
	}
}
