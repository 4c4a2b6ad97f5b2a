package exchange

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	randv2 "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

var (
	_ ports.Exchange = (*Venue)(nil)
	_ ports.Feed     = (*Venue)(nil)
)

// ErrUnavailable is the venue's transient placement failure, with the
// reference building block's message. Place returns it unwrapped, so that
// its text is exactly the message operators know from the reference.
//
//lint:ignore ST1005 the reference message is part of the contract, capital and full stop included.
var ErrUnavailable = errors.New("Failed to place order at stock exchange. Connection not available") //nolint:staticcheck // ST1005: as above

// ErrCancelUnavailable is the venue's transient cancel failure, worded as
// the placement failure is, so that an operator does not read a failed
// cancel as a failed placement.
//
//lint:ignore ST1005 worded as the reference message, capital and full stop included.
var ErrCancelUnavailable = errors.New("Failed to cancel order at stock exchange. Connection not available") //nolint:staticcheck // ST1005: as above

// The reference building block's behaviour and the venue's, which the
// command-line defaults reproduce. A zero VenueConfig takes only
// DefaultPrice and DefaultKeep: otherwise it is an instant exchange that
// never fails, which is what most tests want.
const (
	// DefaultFailureRate is the reference share of calls that fail.
	DefaultFailureRate = 0.1
	// DefaultLatency is how long a successful reference call takes.
	DefaultLatency = 500 * time.Millisecond
	// DefaultPrice is the reference price every instrument is quoted at:
	// 100.00.
	DefaultPrice domain.Price = 100_00
	// DefaultFillTime is about how long a marketable order takes to fill
	// after its acknowledgement.
	DefaultFillTime = time.Second
	// DefaultOrderTTL is how long a resting limit order works before it
	// expires.
	DefaultOrderTTL = time.Hour
	// DefaultCancelDelay is how long after an accepted cancel the unfilled
	// rest of the order is canceled.
	DefaultCancelDelay = 20 * time.Millisecond
	// DefaultKeep is how many reports the feed keeps for replay.
	DefaultKeep = 1_000_000
)

// VenueConfig configures a Venue. Zero fields make an instant exchange that
// never fails: no latency, fills at the acknowledgement, cancels at once,
// resting orders that never expire.
type VenueConfig struct {
	// FailureRate is the share of calls, 0 to 1, that fail at once with
	// ErrUnavailable (Place) or ErrCancelUnavailable (Cancel).
	FailureRate float64
	// Latency is how long a successful Place or Cancel call takes.
	Latency time.Duration
	// Price is the one price every instrument is quoted at; zero means
	// DefaultPrice.
	Price domain.Price
	// FillTime is about how long after its acknowledgement a marketable
	// order takes to fill, in 1 to 3 executions; zero fills it at once.
	FillTime time.Duration
	// OrderTTL is how long a limit order that is not marketable rests
	// before it expires; zero means it rests until canceled.
	OrderTTL time.Duration
	// CancelDelay is how long after an accepted cancel the unfilled rest
	// is canceled (unless a fill completes the order first); zero cancels
	// at once.
	CancelDelay time.Duration
	// Keep is how many reports the feed keeps for replay; zero means
	// DefaultKeep.
	Keep int
	// Session names the venue session; empty means a random name. The
	// sequence numbers of one session's reports start at 1.
	Session string
	// Faults makes every subscription to the feed misbehave, for tests.
	Faults FeedFaults
	// Rand returns a number in [0, 1); nil means math/rand/v2. Tests pass a
	// deterministic source. The venue calls it with a lock held, so it
	// need not be safe for concurrent use.
	Rand func() float64
}

// FeedFaults makes a feed subscription misbehave as a real connection to a
// venue can. Faults are applied as reports are delivered, never to the
// venue's log, and afresh on every subscription: a replay of a dropped
// report may well deliver it.
type FeedFaults struct {
	// Duplicate is the probability, 0 to 1, that a report is delivered
	// twice.
	Duplicate float64
	// Drop is the probability, 0 to below 1, that a report is not
	// delivered; the gap shows in the sequence numbers.
	Drop float64
	// Reorder shuffles the reports within windows of this many, taken as
	// they are available; 0 or 1 keeps their order.
	Reorder int
	// DisconnectEvery ends the subscription with an error after this many
	// deliveries; 0 never does.
	DisconnectEvery int
}

// VenueStats counts what a Venue has seen. Once every call has returned,
// Calls is the sum of Failures, Rejected, Cancelled, Placed and Duplicates,
// and CancelCalls the sum of the four cancel outcomes.
type VenueStats struct {
	// Calls counts every Place call.
	Calls int64 `json:"calls"`
	// Failures counts Place calls that failed with ErrUnavailable.
	Failures int64 `json:"failures"`
	// Rejected counts Place calls refused for good: a missing or invalid
	// order.
	Rejected int64 `json:"rejected"`
	// Cancelled counts Place calls whose context ended before the venue
	// answered; they placed nothing.
	Cancelled int64 `json:"cancelled"`
	// Placed counts orders placed, each ID once.
	Placed int64 `json:"placed"`
	// Duplicates counts successful Place calls for an ID already placed:
	// they are acknowledged without placing the order again.
	Duplicates int64 `json:"duplicates"`
	// CancelCalls counts every Cancel call.
	CancelCalls int64 `json:"cancel_calls"`
	// CancelFailures counts Cancel calls that failed with
	// ErrCancelUnavailable.
	CancelFailures int64 `json:"cancel_failures"`
	// CancelsAbandoned counts Cancel calls whose context ended before the
	// venue answered.
	CancelsAbandoned int64 `json:"cancels_abandoned"`
	// CancelsAccepted counts Cancel calls accepted, a repeat for an order
	// whose cancel is pending included.
	CancelsAccepted int64 `json:"cancels_accepted"`
	// CancelsRefused counts Cancel calls refused for good: an unknown or
	// finished order.
	CancelsRefused int64 `json:"cancels_refused"`
	// Reports counts the reports the venue has emitted on its feed.
	Reports int64 `json:"reports"`
	// Subscriptions counts the feed subscriptions open now.
	Subscriptions int64 `json:"subscriptions"`
}

// Venue is a simulated stock exchange: the reference place_order building
// block (each call fails at once with probability FailureRate, otherwise
// takes Latency, and a repeated client order ID is acknowledged without
// placing the order twice), and behind it a venue where orders work, fill,
// rest, expire and are canceled, every change told as an execution report
// on its feed. It is safe for concurrent use.
type Venue struct {
	cfg     VenueConfig
	session string
	// done is closed by Close; it ends waits for latency and for reports.
	done chan struct{}

	mu     sync.Mutex
	closed bool
	stats  VenueStats
	orders map[domain.ID]*venueOrder
	log    reportLog
	// grew is closed, and replaced, when the log grows while a subscriber
	// waits for it (waiting).
	grew    chan struct{}
	waiting bool
}

// venueOrder is the venue's record of an order with the work scheduled
// for it. Every field is guarded by the venue's lock.
type venueOrder struct {
	rec VenueOrder
	// price is what the order executes at.
	price domain.Price
	// plan holds the quantities of the fills still to come and, in step,
	// their times after the acknowledgement.
	plan   []int64
	planAt []time.Duration
	// work is the timer of the next fill or of the expiry; cancel that of
	// a pending cancel.
	work, cancel *time.Timer
	// flooded orders are filled by Flood, their own work stopped.
	flooded bool
}

// NewVenue returns a venue, or an error naming an invalid setting.
func NewVenue(cfg VenueConfig) (*Venue, error) {
	// Written so that NaN fails too.
	if !(cfg.FailureRate >= 0 && cfg.FailureRate <= 1) {
		return nil, fmt.Errorf("exchange: venue FailureRate %v must be between 0 and 1", cfg.FailureRate)
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"Latency", cfg.Latency}, {"FillTime", cfg.FillTime}, {"OrderTTL", cfg.OrderTTL}, {"CancelDelay", cfg.CancelDelay}} {
		if d.d < 0 {
			return nil, fmt.Errorf("exchange: venue %s %s must not be negative", d.name, d.d)
		}
	}
	if cfg.Price < 0 || cfg.Price > domain.MaxPrice {
		return nil, fmt.Errorf("exchange: venue Price %s must be between 0.01 and %s", cfg.Price, domain.MaxPrice)
	}
	if cfg.Keep < 0 {
		return nil, fmt.Errorf("exchange: venue Keep %d must not be negative", cfg.Keep)
	}
	if err := cfg.Faults.validate(); err != nil {
		return nil, err
	}
	if cfg.Price == 0 {
		cfg.Price = DefaultPrice
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultKeep
	}
	if cfg.Rand == nil {
		cfg.Rand = randv2.Float64
	}
	session := cfg.Session
	if session == "" {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
		session = hex.EncodeToString(b[:])
	}
	return &Venue{
		cfg:     cfg,
		session: session,
		done:    make(chan struct{}),
		orders:  map[domain.ID]*venueOrder{},
		log:     reportLog{keep: cfg.Keep, next: 1},
		grew:    make(chan struct{}),
	}, nil
}

func (f FeedFaults) validate() error {
	switch {
	case !(f.Duplicate >= 0 && f.Duplicate <= 1):
		return fmt.Errorf("exchange: feed fault Duplicate %v must be between 0 and 1", f.Duplicate)
	case !(f.Drop >= 0 && f.Drop < 1):
		// A feed that drops everything can never be caught up with.
		return fmt.Errorf("exchange: feed fault Drop %v must be at least 0 and below 1", f.Drop)
	case f.Reorder < 0:
		return fmt.Errorf("exchange: feed fault Reorder %d must not be negative", f.Reorder)
	case f.DisconnectEvery < 0:
		return fmt.Errorf("exchange: feed fault DisconnectEvery %d must not be negative", f.DisconnectEvery)
	}
	return nil
}

// Session names the venue's session, the one its sequence numbers belong
// to.
func (v *Venue) Session() string { return v.session }

// Place places o with o.ID as the client order ID and, once acknowledged,
// works it: a marketable order fills, another limit order rests. A missing
// (zero ID) or invalid order is a permanent error wrapping
// domain.ErrRejected. ErrUnavailable and an error wrapping ctx's error,
// when ctx ends first, are transient.
func (v *Venue) Place(ctx context.Context, o domain.Order) error {
	v.mu.Lock()
	v.stats.Calls++
	// A refusal comes before the dice are rolled: a permanent error must
	// not hide behind a transient one the caller would retry.
	if o.ID.IsZero() {
		v.stats.Rejected++
		v.mu.Unlock()
		return fmt.Errorf("exchange: order is missing: %w", domain.ErrRejected)
	}
	if reason := invalid(o); reason != "" {
		v.stats.Rejected++
		v.mu.Unlock()
		return fmt.Errorf("exchange: order %s refused: %s: %w", o.ID, reason, domain.ErrRejected)
	}
	if err := ctx.Err(); err != nil {
		v.stats.Cancelled++
		v.mu.Unlock()
		return fmt.Errorf("exchange: placement abandoned: %w", err)
	}
	if v.closed || v.cfg.Rand() < v.cfg.FailureRate {
		v.stats.Failures++
		v.mu.Unlock()
		return ErrUnavailable
	}
	v.mu.Unlock()

	if err := v.wait(ctx); err != nil {
		v.mu.Lock()
		defer v.mu.Unlock()
		if errors.Is(err, ErrUnavailable) {
			v.stats.Failures++
			return err
		}
		v.stats.Cancelled++
		return fmt.Errorf("exchange: placement abandoned: %w", err)
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		v.stats.Failures++
		return ErrUnavailable
	}
	if _, ok := v.orders[o.ID]; ok {
		v.stats.Duplicates++
		return nil
	}
	v.stats.Placed++
	v.accept(o)
	return nil
}

// invalid says why the venue cannot work o, or "" if it can. Orders made by
// domain.New always pass.
func invalid(o domain.Order) string {
	switch {
	case o.Quantity < 1 || o.Quantity > domain.MaxQuantity:
		return "quantity must be between 1 and " + strconv.Itoa(domain.MaxQuantity)
	case o.Side != domain.Buy && o.Side != domain.Sell:
		return `side must be "buy" or "sell"`
	case o.Type == domain.Market && o.LimitPrice != nil:
		return "a market order has no limit price"
	case o.Type == domain.Limit && (o.LimitPrice == nil || *o.LimitPrice <= 0 || *o.LimitPrice > domain.MaxPrice):
		return "a limit order needs a limit price between 0.01 and " + domain.MaxPrice.String()
	case o.Type != domain.Market && o.Type != domain.Limit:
		return `type must be "market" or "limit"`
	}
	return ""
}

// wait takes the venue's latency, or returns ctx's error, or ErrUnavailable
// when the venue closes meanwhile.
func (v *Venue) wait(ctx context.Context) error {
	if v.cfg.Latency <= 0 {
		return nil
	}
	t := time.NewTimer(v.cfg.Latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-v.done:
		return ErrUnavailable
	}
}

// accept acknowledges o and sets it to work. v.mu is held.
func (v *Venue) accept(o domain.Order) {
	now := v.now()
	vo := &venueOrder{rec: VenueOrder{
		ID:         o.ID,
		Type:       o.Type,
		Side:       o.Side,
		Instrument: o.Instrument,
		Quantity:   o.Quantity,
		Status:     domain.Placed,
		PlacedAt:   now,
		UpdatedAt:  now,
	}, price: v.cfg.Price}
	if o.LimitPrice != nil {
		p := *o.LimitPrice
		vo.rec.LimitPrice = &p
	}
	v.orders[o.ID] = vo
	v.emit(domain.Report{OrderID: o.ID, Kind: domain.ReportAck, LeavesQty: o.Quantity, At: now})

	if !vo.rec.marketable(v.cfg.Price) {
		if v.cfg.OrderTTL > 0 {
			vo.work = time.AfterFunc(v.cfg.OrderTTL, func() { v.expire(vo) })
		}
		return
	}
	n := 1 + int(v.cfg.Rand()*3)
	n = max(1, min(n, 3, int(o.Quantity)))
	vo.plan = split(o.Quantity, n, v.cfg.Rand)
	if v.cfg.FillTime <= 0 {
		for len(vo.plan) > 0 {
			v.fillNext(vo)
		}
		return
	}
	// Each execution at a random time in its own n-th of FillTime, so that
	// they come in order and the last within FillTime.
	vo.planAt = make([]time.Duration, n)
	for i := range vo.planAt {
		vo.planAt[i] = time.Duration((float64(i) + v.cfg.Rand()) / float64(n) * float64(v.cfg.FillTime))
	}
	vo.work = time.AfterFunc(vo.planAt[0], func() { v.fillStep(vo) })
}

// marketable reports whether o executes at once at the venue's price: a
// market order, a limit buy at or above it, a limit sell at or below it.
func (o VenueOrder) marketable(price domain.Price) bool {
	if o.Type == domain.Market || o.LimitPrice == nil {
		return true
	}
	if o.Side == domain.Buy {
		return *o.LimitPrice >= price
	}
	return *o.LimitPrice <= price
}

// fillStep executes the next planned fill of vo and schedules the one
// after it. It runs on vo's timer, so it checks the order still works.
func (v *Venue) fillStep(vo *venueOrder) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed || vo.flooded || vo.rec.Status.Terminal() || len(vo.plan) == 0 {
		return
	}
	at := vo.planAt[0]
	v.fillNext(vo)
	if len(vo.plan) > 0 {
		vo.work = time.AfterFunc(vo.planAt[0]-at, func() { v.fillStep(vo) })
	}
}

// fillNext executes the next planned fill of vo. v.mu is held.
func (v *Venue) fillNext(vo *venueOrder) {
	q := vo.plan[0]
	vo.plan = vo.plan[1:]
	if len(vo.planAt) > 0 {
		vo.planAt = vo.planAt[1:]
	}
	v.fill(vo, q, vo.price)
}

// fill executes q of vo at price, which must not exceed its unfilled
// quantity. v.mu is held.
func (v *Venue) fill(vo *venueOrder, q int64, price domain.Price) {
	now := v.now()
	vo.rec.CumQty += q
	vo.rec.UpdatedAt = now
	kind := domain.ReportPartialFill
	vo.rec.Status = domain.PartiallyFilled
	if vo.rec.CumQty == vo.rec.Quantity {
		kind = domain.ReportFill
		vo.rec.Status = domain.Filled
	}
	r := v.emit(domain.Report{
		OrderID:   vo.rec.ID,
		Kind:      kind,
		LastQty:   q,
		LastPrice: price,
		CumQty:    vo.rec.CumQty,
		LeavesQty: vo.rec.Leaves(),
		At:        now,
	})
	vo.rec.Executions = append(vo.rec.Executions, domain.Fill{ExecID: r.ExecID, Quantity: q, Price: price, ExecutedAt: now})
}

// expire ends vo at its time limit, unless it ended before.
func (v *Venue) expire(vo *venueOrder) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed || vo.flooded || vo.rec.Status.Terminal() {
		return
	}
	v.end(vo, domain.Expired, domain.ReportExpired)
}

// end gives vo the terminal status and reports it. v.mu is held.
func (v *Venue) end(vo *venueOrder, s domain.Status, kind domain.ReportKind) {
	now := v.now()
	vo.rec.Status = s
	vo.rec.UpdatedAt = now
	vo.plan, vo.planAt = nil, nil
	if vo.work != nil {
		vo.work.Stop()
	}
	v.emit(domain.Report{OrderID: vo.rec.ID, Kind: kind, CumQty: vo.rec.CumQty, At: now})
}

// Cancel asks the venue to cancel the unfilled rest of the order with the
// given client order ID. It returns nil once the venue accepted the
// request, also again while a cancel is pending; after CancelDelay the
// order is canceled, or, if a fill completed it first, the cancel is
// refused on the feed. An unknown or finished order is refused at once:
// a cancel_rejected report and an error wrapping domain.ErrRejected.
// ErrCancelUnavailable and an error wrapping ctx's error are transient.
func (v *Venue) Cancel(ctx context.Context, id domain.ID) error {
	v.mu.Lock()
	v.stats.CancelCalls++
	if id.IsZero() {
		v.stats.CancelsRefused++
		v.mu.Unlock()
		return fmt.Errorf("exchange: order to cancel is missing: %w", domain.ErrRejected)
	}
	if err := ctx.Err(); err != nil {
		v.stats.CancelsAbandoned++
		v.mu.Unlock()
		return fmt.Errorf("exchange: cancel abandoned: %w", err)
	}
	if v.closed || v.cfg.Rand() < v.cfg.FailureRate {
		v.stats.CancelFailures++
		v.mu.Unlock()
		return ErrCancelUnavailable
	}
	v.mu.Unlock()

	if err := v.wait(ctx); err != nil {
		v.mu.Lock()
		defer v.mu.Unlock()
		if errors.Is(err, ErrUnavailable) {
			v.stats.CancelFailures++
			return ErrCancelUnavailable
		}
		v.stats.CancelsAbandoned++
		return fmt.Errorf("exchange: cancel abandoned: %w", err)
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		v.stats.CancelFailures++
		return ErrCancelUnavailable
	}
	vo, ok := v.orders[id]
	if !ok || vo.rec.Status.Terminal() {
		reason := "unknown order"
		var cum int64
		if ok {
			reason = tooLate(vo.rec.Status)
			cum = vo.rec.CumQty
		}
		v.stats.CancelsRefused++
		v.emit(domain.Report{OrderID: id, Kind: domain.ReportCancelRejected, CumQty: cum, At: v.now(), Reason: reason})
		return fmt.Errorf("exchange: cancel of order %s refused: %s: %w", id, reason, domain.ErrRejected)
	}
	v.stats.CancelsAccepted++
	if vo.rec.CancelPending {
		return nil
	}
	vo.rec.CancelPending = true
	if v.cfg.CancelDelay <= 0 {
		v.cancelRest(vo)
		return nil
	}
	vo.cancel = time.AfterFunc(v.cfg.CancelDelay, func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		if !v.closed {
			v.cancelRest(vo)
		}
	})
	return nil
}

// tooLate is the reason a cancel of an order with terminal status s is
// refused.
func tooLate(s domain.Status) string {
	if s == domain.Canceled {
		return "already canceled"
	}
	return "too late: " + string(s)
}

// cancelRest carries out vo's pending cancel: the unfilled rest is
// canceled, unless the order ended first. v.mu is held.
func (v *Venue) cancelRest(vo *venueOrder) {
	vo.rec.CancelPending = false
	if vo.rec.Status.Terminal() {
		v.emit(domain.Report{OrderID: vo.rec.ID, Kind: domain.ReportCancelRejected, CumQty: vo.rec.CumQty, At: v.now(), Reason: tooLate(vo.rec.Status)})
		return
	}
	v.end(vo, domain.Canceled, domain.ReportCanceled)
}

// split divides q into n positive parts at random. n must be between 1
// and q. It takes n draws of rnd and never loops on them, so that a
// constant rnd splits evenly.
func split(q int64, n int, rnd func() float64) []int64 {
	w := make([]float64, n)
	var sum float64
	for i := range w {
		// Never zero, so that the sum is never zero.
		w[i] = 0.1 + rnd()
		sum += w[i]
	}
	parts := make([]int64, n)
	rest := q - int64(n) // each part has 1, and a share of the rest
	var given int64
	for i := range n - 1 {
		p := min(max(int64(float64(rest)*w[i]/sum), 0), rest-given)
		parts[i] = 1 + p
		given += p
	}
	parts[n-1] = 1 + rest - given
	return parts
}

// emit completes r with its sequence number, execution ID and, if unset,
// time, appends it to the log and wakes the subscribers. v.mu is held.
func (v *Venue) emit(r domain.Report) domain.Report {
	r.Seq = v.log.next
	r.ExecID = v.session + "-" + strconv.FormatInt(r.Seq, 10)
	if r.At.IsZero() {
		r.At = v.now()
	}
	v.log.append(r)
	v.stats.Reports++
	if v.waiting {
		close(v.grew)
		v.grew = make(chan struct{})
		v.waiting = false
	}
	return r
}

// now is the venue's time, to the microsecond, as the stores keep it, so
// that ordergate's record and the venue's compare equal.
func (v *Venue) now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Order returns the venue's record of the order with the given ID, and
// whether the venue has one.
func (v *Venue) Order(id domain.ID) (VenueOrder, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vo, ok := v.orders[id]
	if !ok {
		return VenueOrder{}, false
	}
	return vo.rec.clone(), true
}

// Orders returns the venue's record of every order it placed, oldest ID
// first (UUIDv7 byte order is creation order).
func (v *Venue) Orders() []VenueOrder {
	v.mu.Lock()
	recs := make([]VenueOrder, 0, len(v.orders))
	for _, vo := range v.orders {
		recs = append(recs, vo.rec.clone())
	}
	v.mu.Unlock()
	slices.SortFunc(recs, func(a, b VenueOrder) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return recs
}

// placements returns how many times each client order ID was placed: 1,
// since repeats are acknowledged without placing.
func (v *Venue) placements() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := make(map[string]int, len(v.orders))
	for id := range v.orders {
		m[id.String()] = 1
	}
	return m
}

// Stats returns the counters so far.
func (v *Venue) Stats() VenueStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stats
}

// Reports returns up to n reports of the venue's log from the one numbered
// from, as the venue wrote them, without the feed's faults. It returns an
// error wrapping domain.ErrFeedTruncated if that report is no longer kept.
// Numbers below 1 mean 1.
func (v *Venue) Reports(from int64, n int) ([]domain.Report, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	from = max(from, 1)
	if from < v.log.first() {
		return nil, fmt.Errorf("exchange: report %d of session %s: %w", from, v.session, domain.ErrFeedTruncated)
	}
	var out []domain.Report
	for seq := from; seq < v.log.next && len(out) < n; seq++ {
		out = append(out, v.log.at(seq))
	}
	return out, nil
}

// Close stops the venue: its orders stop working, open subscriptions end
// with an error, and later calls fail with the transient errors. It is
// safe to call more than once.
func (v *Venue) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	close(v.done)
	for _, vo := range v.orders {
		for _, t := range []*time.Timer{vo.work, vo.cancel} {
			if t != nil {
				t.Stop()
			}
		}
	}
	return nil
}
