package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ordergate/ordergate/ports"
)

// clockRefresh is how often a Clock measures its offset to the database's
// clock again. Between measurements it runs on the host's monotonic clock,
// which drifts by parts per million: microseconds in this interval.
const clockRefresh = 10 * time.Second

// Clock tells the database's time: every instance sharing the database
// reads the same clock, so due times and leases written by one instance mean
// the same to all, however far their own clocks are apart. It is base
// corrected by its offset to the database server's clock, measured on
// creation and again every clockRefresh in the background (Now never waits
// for the database; if a measurement fails, the last offset stands). For
// SQLite the server is the host the file lives on, whose clock SQLite reads.
type Clock struct {
	db   *DB
	base ports.Clock
	// offset is the database's time minus base's, in nanoseconds.
	offset    atomic.Int64
	measured  atomic.Int64 // when, in base's Unix nanoseconds
	measuring sync.Mutex
}

var _ ports.Clock = (*Clock)(nil)

// Clock returns the database's clock, measured against base.
func (d *DB) Clock(ctx context.Context, base ports.Clock) (*Clock, error) {
	c := &Clock{db: d, base: base}
	if err := c.measure(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Now returns the database's current time.
func (c *Clock) Now() time.Time {
	now := c.base.Now()
	if now.UnixNano()-c.measured.Load() > int64(clockRefresh) && c.measuring.TryLock() {
		go func() {
			defer c.measuring.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = c.measure(ctx) // the last offset stands meanwhile
		}()
	}
	return now.Add(time.Duration(c.offset.Load()))
}

// Offset returns the database's time minus base's, as last measured.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// measure reads the server's clock and takes the reading to stand for the
// middle of the round trip. A SQLite file's server is this host, whose
// clock Go reads to the microsecond (SQLite's own 'now' has milliseconds).
func (c *Clock) measure(ctx context.Context) error {
	if c.db.dialect == SQLite {
		now := c.base.Now()
		c.offset.Store(int64(time.Since(now)))
		c.measured.Store(now.UnixNano())
		return nil
	}
	var text string
	before := c.base.Now()
	if err := c.db.db.QueryRowContext(ctx, `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`).Scan(&text); err != nil {
		return fmt.Errorf("store: read the database's clock: %w", err)
	}
	after := c.base.Now()
	server, err := time.Parse("2006-01-02 15:04:05.999999", text)
	if err != nil {
		return fmt.Errorf("store: read the database's clock: %q: %w", text, err)
	}
	mid := before.Add(after.Sub(before) / 2)
	c.offset.Store(int64(server.Sub(mid)))
	c.measured.Store(after.UnixNano())
	return nil
}
