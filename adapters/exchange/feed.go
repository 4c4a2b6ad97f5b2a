package exchange

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// errFeedDisconnected ends a subscription whose FeedFaults.DisconnectEvery
// was reached.
var errFeedDisconnected = errors.New("exchange: feed disconnected (fault injection): subscribe again")

// reportLog holds the venue's latest reports, at most keep of them, in a
// ring that grows as reports come, so that a quiet venue takes little
// memory.
type reportLog struct {
	buf  []domain.Report
	head int // index in buf of the oldest kept report
	n    int // how many are kept
	next int64
	keep int
}

// first returns the number of the oldest report kept (next if none is).
func (l *reportLog) first() int64 { return l.next - int64(l.n) }

// at returns the report numbered seq, which must be kept.
func (l *reportLog) at(seq int64) domain.Report {
	return l.buf[(l.head+int(seq-l.first()))%len(l.buf)]
}

func (l *reportLog) append(r domain.Report) {
	if l.n == len(l.buf) && len(l.buf) < l.keep {
		grown := make([]domain.Report, min(max(2*len(l.buf), 1024), l.keep))
		k := copy(grown, l.buf[l.head:])
		copy(grown[k:], l.buf[:l.head])
		l.buf, l.head = grown, 0
	}
	if l.n == len(l.buf) {
		// Full: the oldest report makes room.
		l.buf[l.head] = r
		l.head = (l.head + 1) % len(l.buf)
	} else {
		l.buf[(l.head+l.n)%len(l.buf)] = r
		l.n++
	}
	l.next++
}

// Subscribe opens the venue's feed. If session is the venue's session, the
// first report is the one numbered from (numbers below 1 mean 1);
// otherwise it is the session's first. It returns an error wrapping
// domain.ErrFeedTruncated if that report is no longer kept. The
// subscription misbehaves as the venue's FeedFaults say.
func (v *Venue) Subscribe(ctx context.Context, session string, from int64) (ports.Subscription, error) {
	return v.subscribe(ctx, session, from)
}

func (v *Venue) subscribe(ctx context.Context, session string, from int64) (*subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("exchange: subscribe: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, fmt.Errorf("exchange: subscribe: %w", ErrUnavailable)
	}
	start := int64(1)
	if session == v.session {
		start = max(from, 1)
	}
	if start < v.log.first() {
		return nil, fmt.Errorf("exchange: feed from report %d of session %s: the oldest kept is %d: %w", start, v.session, v.log.first(), domain.ErrFeedTruncated)
	}
	v.stats.Subscriptions++
	return &subscription{v: v, cursor: start, first: start, faults: v.cfg.Faults, done: make(chan struct{})}, nil
}

// subscription is a cursor into the venue's log: it holds no reports but
// the few of a window being delivered, so that memory is bounded by the
// log's Keep, not by the subscribers.
type subscription struct {
	v      *Venue
	faults FeedFaults
	// first is the number of the first report it delivers.
	first int64

	// Next's state; Next is not called concurrently.
	cursor    int64           // the next report to take from the log
	queue     []domain.Report // taken, faults applied, not yet delivered
	delivered int
	err       error // ends the subscription

	closeOnce sync.Once
	done      chan struct{}
	// released is guarded by v.mu.
	released bool
}

// Session names the venue session the sequence numbers belong to.
func (s *subscription) Session() string { return s.v.session }

// Next returns the next report, waiting for one until ctx ends. An error
// from ctx leaves the subscription usable; any other error ends it: the
// venue closed, the subscription was closed, it fell behind the reports
// the venue keeps (domain.ErrFeedTruncated), or FeedFaults.DisconnectEvery
// was reached.
func (s *subscription) Next(ctx context.Context) (domain.Report, error) {
	for {
		if s.err != nil {
			return domain.Report{}, s.err
		}
		select {
		case <-s.done:
			s.end(errors.New("exchange: feed subscription closed"))
			continue
		default:
		}
		if n := s.faults.DisconnectEvery; n > 0 && s.delivered >= n {
			s.end(errFeedDisconnected)
			continue
		}
		if len(s.queue) > 0 {
			r := s.queue[0]
			s.queue = s.queue[1:]
			s.delivered++
			return r, nil
		}
		grew, err := s.take()
		if err != nil {
			s.end(err)
			continue
		}
		if grew == nil {
			continue // took some
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return domain.Report{}, ctx.Err()
		case <-s.done:
		case <-s.v.done:
		}
	}
}

// take moves the next window of reports from the log to the queue, faults
// applied. If there are none yet, it returns a channel closed when there
// may be.
func (s *subscription) take() (<-chan struct{}, error) {
	v := s.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, fmt.Errorf("exchange: feed: %w", ErrUnavailable)
	}
	if s.cursor < v.log.first() {
		return nil, fmt.Errorf("exchange: feed fell behind: report %d of session %s is no longer kept: %w", s.cursor, v.session, domain.ErrFeedTruncated)
	}
	if s.cursor >= v.log.next {
		v.waiting = true
		return v.grew, nil
	}
	window := int64(max(s.faults.Reorder, 1))
	end := min(s.cursor+window, v.log.next)
	s.queue = s.queue[:0]
	for seq := s.cursor; seq < end; seq++ {
		r := v.log.at(seq)
		if s.faults.Drop > 0 && v.cfg.Rand() < s.faults.Drop {
			continue
		}
		s.queue = append(s.queue, r)
		if s.faults.Duplicate > 0 && v.cfg.Rand() < s.faults.Duplicate {
			s.queue = append(s.queue, r)
		}
	}
	s.cursor = end
	if s.faults.Reorder > 1 {
		// Fisher-Yates with the venue's dice, so that tests can fix them.
		for i := len(s.queue) - 1; i > 0; i-- {
			j := min(int(v.cfg.Rand()*float64(i+1)), i)
			s.queue[i], s.queue[j] = s.queue[j], s.queue[i]
		}
	}
	return nil, nil
}

// end ends the subscription with err, once.
func (s *subscription) end(err error) {
	if s.err == nil {
		s.err = err
		s.queue = nil
		s.release()
	}
}

// Close ends the subscription and wakes a blocked Next. It is safe to call
// more than once and concurrently with Next.
func (s *subscription) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	s.release()
	return nil
}

// release takes the subscription off the venue's count, once, whichever of
// Close and an ending error comes first.
func (s *subscription) release() {
	s.v.mu.Lock()
	defer s.v.mu.Unlock()
	if !s.released {
		s.released = true
		s.v.stats.Subscriptions--
	}
}
