package app

import "sync"

// aimd sizes the dispatcher's calls in flight to what the exchange takes:
// the limit halves (down to floor) when most of a group of calls fail and
// grows by one with each call that gets an answer, up to ceiling.
//
// Calls are grouped by when they start, aimdGroup at a time, and a group
// decides on its own outcomes, a call still in flight counting as not
// failed. So a burst whose instant failures come back before its slow
// successes cannot shrink the limit: it takes more than half of a fixed
// set of started calls failing, which on an exchange that fails 10 % of
// calls has odds of 1.3e-9 per group (one group in 32 calls, so at 512
// calls a second about once in 1.5 years) whatever the order of the
// results; the limit then recovers within a few hundred calls. Only a group started after the last decrease may decrease
// again, so the calls of one failing burst halve the limit once, not once
// per group (as TCP reacts once per window of losses).
type aimd struct {
	floor, ceiling int

	mu    sync.Mutex
	limit int
	next  uint64 // sequence number of the next call to start
	cutAt uint64 // first sequence number started after the last decrease
	// groups holds the counts of groups with calls still out.
	groups map[uint64]*aimdCounts
}

// aimdCounts counts one group's completed calls.
type aimdCounts struct {
	failed, rest int
	decided      bool
}

// aimdGroup is how many consecutive calls decide together.
const aimdGroup = 32

// aimdFloor is the least the limit shrinks to: a few calls keep probing.
const aimdFloor = 4

func newAIMD(ceiling int) *aimd {
	return &aimd{floor: min(aimdFloor, ceiling), ceiling: ceiling, limit: ceiling, groups: map[uint64]*aimdCounts{}}
}

// Limit returns how many calls may be in flight now.
func (a *aimd) Limit() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.limit
}

// Start numbers a call about to go out; pass the number to Done.
func (a *aimd) Start() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.next
	a.next++
	return n
}

// Done records how call seq ended: failed if the exchange failed it (a
// transient error), answered if it placed or refused it; a call cut short
// by shutdown is neither.
func (a *aimd) Done(seq uint64, failed, answered bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if answered && a.limit < a.ceiling {
		a.limit++
	}
	g := seq / aimdGroup
	c := a.groups[g]
	if c == nil {
		c = &aimdCounts{}
		a.groups[g] = c
	}
	if failed {
		c.failed++
	} else {
		c.rest++
	}
	if c.failed+c.rest == aimdGroup {
		delete(a.groups, g)
	}
	if c.decided || 2*c.failed <= aimdGroup {
		return
	}
	// Most of the group failed, whatever the rest do. A group that started
	// before the last decrease is covered by it already.
	c.decided = true
	if g*aimdGroup >= a.cutAt {
		a.limit = max(a.floor, a.limit/2)
		a.cutAt = a.next
	}
}
