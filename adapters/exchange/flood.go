package exchange

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"time"
)

// floodFill is one execution Flood will report.
type floodFill struct {
	vo *venueOrder
	q  int64
}

// Flood fills every working order, to make a large stream of reports for
// the ingestion benchmark: each order's unfilled quantity is split into
// perOrder fills (fewer if the quantity is smaller), the last one a fill
// report, at the venue's price for a marketable order and at its limit for
// a resting one. Flood takes the orders over: their own fills and expiry
// stop. The fills go round the orders, one of each at a time; with rate 0
// they are all in the log when Flood returns, otherwise Flood returns at
// once and they are appended at about rate reports a second until all are
// (a fill of an order canceled meanwhile is skipped). It returns how many
// fills it generated.
func (v *Venue) Flood(perOrder int, rate float64) (int, error) {
	if perOrder < 1 {
		return 0, fmt.Errorf("exchange: flood per_order %d must be at least 1", perOrder)
	}
	if !(rate >= 0) || math.IsInf(rate, 1) {
		return 0, fmt.Errorf("exchange: flood rate %v must be 0 (at once) or a positive number of reports a second", rate)
	}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return 0, fmt.Errorf("exchange: flood: %w", ErrUnavailable)
	}
	var working []*venueOrder
	for _, vo := range v.orders {
		if !vo.rec.Status.Terminal() && !vo.flooded {
			working = append(working, vo)
		}
	}
	// By ID, so that a deterministic Rand floods deterministically.
	slices.SortFunc(working, func(a, b *venueOrder) int { return bytes.Compare(a.rec.ID[:], b.rec.ID[:]) })
	plans := make([][]int64, len(working))
	for i, vo := range working {
		vo.flooded = true
		if vo.work != nil {
			vo.work.Stop()
		}
		vo.plan, vo.planAt = nil, nil
		if !vo.rec.marketable(v.cfg.Price) {
			vo.price = *vo.rec.LimitPrice
		}
		leaves := vo.rec.Leaves()
		plans[i] = split(leaves, int(min(int64(perOrder), leaves)), v.cfg.Rand)
	}
	var fills []floodFill
	for round := 0; round < perOrder; round++ {
		for i, parts := range plans {
			if round < len(parts) {
				fills = append(fills, floodFill{vo: working[i], q: parts[round]})
			}
		}
	}
	if rate == 0 {
		for _, f := range fills {
			v.floodFill(f)
		}
		v.mu.Unlock()
		return len(fills), nil
	}
	v.mu.Unlock()
	go v.pace(fills, rate)
	return len(fills), nil
}

// floodFill reports f unless its order ended meanwhile. v.mu is held.
func (v *Venue) floodFill(f floodFill) {
	if !f.vo.rec.Status.Terminal() {
		v.fill(f.vo, f.q, f.vo.price)
	}
}

// pace appends fills at about rate a second, in steps of a few
// milliseconds, until all are in the log or the venue closes.
func (v *Venue) pace(fills []floodFill, rate float64) {
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for sent := 0; sent < len(fills); {
		due := len(fills)
		if d := rate*time.Since(start).Seconds() + 1; d < float64(due) {
			due = int(d)
		}
		v.mu.Lock()
		if v.closed {
			v.mu.Unlock()
			return
		}
		for ; sent < due; sent++ {
			v.floodFill(fills[sent])
		}
		v.mu.Unlock()
		if sent == len(fills) {
			return
		}
		select {
		case <-tick.C:
		case <-v.done:
			return
		}
	}
}
