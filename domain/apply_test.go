package domain_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/domain"
)

var t0 = time.Date(2026, 11, 24, 10, 15, 30, 0, time.UTC)

// input is one thing that happens to an order: a report from the feed, or
// the dispatcher's or the client's action.
type input struct {
	name string
	do   func(domain.Order) (domain.Order, []domain.Event, error)
}

// venue numbers the reports of one order as the exchange's feed does, and
// labels each fill partial or complete by its running total.
type venue struct {
	o   domain.Order
	seq int64
	cum int64
}

func (v *venue) report(kind domain.ReportKind, qty, cents int64) input {
	v.seq++
	r := domain.Report{
		Seq: v.seq, ExecID: fmt.Sprintf("E%d", v.seq), OrderID: v.o.ID, Kind: kind,
		LastQty: qty, LastPrice: domain.PriceFromCents(cents), At: t0.Add(time.Duration(v.seq) * time.Second),
	}
	if kind.Trigger() == domain.TriggerFill {
		v.cum += qty
		if r.Kind = domain.ReportPartialFill; v.cum == v.o.Quantity {
			r.Kind = domain.ReportFill
		}
	}
	r.CumQty, r.LeavesQty = v.cum, max(v.o.Quantity-v.cum, 0)
	if kind == domain.ReportRejected {
		r.Reason = "unknown instrument"
	}
	return input{
		name: fmt.Sprintf("%s#%d", r.Kind, r.Seq),
		do:   func(o domain.Order) (domain.Order, []domain.Event, error) { return domain.Apply(o, r) },
	}
}

func (v *venue) ack() input                  { return v.report(domain.ReportAck, 0, 0) }
func (v *venue) fill(qty, cents int64) input { return v.report(domain.ReportFill, qty, cents) }
func (v *venue) canceled() input             { return v.report(domain.ReportCanceled, 0, 0) }
func (v *venue) expired() input              { return v.report(domain.ReportExpired, 0, 0) }
func (v *venue) rejected() input             { return v.report(domain.ReportRejected, 0, 0) }
func (v *venue) cancelRejected() input       { return v.report(domain.ReportCancelRejected, 0, 0) }

// The dispatcher's placement outcomes, half a second into the order's life.
var (
	acknowledge = input{"Acknowledge", func(o domain.Order) (domain.Order, []domain.Event, error) {
		return domain.Acknowledge(o, t0.Add(500*time.Millisecond))
	}}
	reject = input{"Reject", func(o domain.Order) (domain.Order, []domain.Event, error) {
		return domain.Reject(o, "unknown instrument", t0.Add(500*time.Millisecond))
	}}
)

func newOrder(t testing.TB, qty int64) domain.Order {
	t.Helper()
	spec := limitSpec()
	spec.Quantity = qty
	o, err := domain.New(domain.NewID(t0), t0, spec)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// run applies inputs in order, checking every step keeps the invariants.
func run(t testing.TB, o domain.Order, inputs ...input) domain.Order {
	t.Helper()
	for _, in := range inputs {
		next, events, err := in.do(o)
		if err != nil {
			t.Fatalf("%s on %s: %v", in.name, o.Status, err)
		}
		checkStep(t, in.name, o, next, events)
		o = next
	}
	return o
}

// checkStep checks the contract's rules hold across one input.
func checkStep(t testing.TB, name string, before, after domain.Order, events []domain.Event) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s -> %s (filled %d -> %d of %d): %s", name, before.Status, after.Status,
			before.FilledQuantity(), after.FilledQuantity(), after.Quantity, fmt.Sprintf(format, args...))
	}
	filled := after.FilledQuantity()
	switch {
	case !after.Status.Valid():
		fail("unknown status")
	case filled < before.FilledQuantity() || filled > after.Quantity:
		fail("filled quantity out of bounds")
	case !slices.Equal(before.Fills, after.Fills[:min(len(before.Fills), len(after.Fills))]) || len(after.Fills)-len(before.Fills) > 1:
		fail("fills were changed, not appended: %v -> %v", before.Fills, after.Fills)
	case before.Status.Terminal() && after.Status != before.Status && before.Status != domain.Rejected:
		fail("an ended order changed")
	case (after.Status == domain.Filled) != (filled == after.Quantity) && !after.Status.Terminal():
		fail("an order that is not filled has its whole quantity")
	case after.Status == domain.Filled && filled != after.Quantity:
		fail("filled with quantity left")
	case after.Status == domain.PartiallyFilled && filled == 0:
		fail("partially filled with nothing filled")
	case (after.Status == domain.Pending || after.Status == domain.Placed) && filled > 0:
		fail("working with fills but not partially filled")
	case (after.Status == domain.Pending) != after.PlacedAt.IsZero() && (after.Status == domain.Pending || after.Status == domain.Placed):
		fail("PlacedAt %v does not match the status", after.PlacedAt)
	case after.UpdatedAt.Before(before.UpdatedAt):
		fail("UpdatedAt went back from %v to %v", before.UpdatedAt, after.UpdatedAt)
	}

	var want []domain.Event
	switch {
	case len(after.Fills) > len(before.Fills):
		f := after.Fills[len(after.Fills)-1]
		typ := domain.EventPartiallyFilled
		if filled == after.Quantity {
			typ = domain.EventFilled
		}
		want = []domain.Event{{Type: typ, Fill: &f}}
	case after.Status != before.Status:
		want = []domain.Event{{Type: statusEvent[after.Status]}}
	}
	if diff := cmp.Diff(want, events); diff != "" {
		fail("events (-want +got):\n%s", diff)
	}
}

var statusEvent = map[domain.Status]domain.EventType{
	domain.Pending:         domain.EventCreated,
	domain.Placed:          domain.EventPlaced,
	domain.PartiallyFilled: domain.EventPartiallyFilled,
	domain.PendingCancel:   domain.EventPendingCancel,
	domain.Filled:          domain.EventFilled,
	domain.Canceled:        domain.EventCanceled,
	domain.Expired:         domain.EventExpired,
	domain.Rejected:        domain.EventRejected,
}

// orderIn returns an order of quantity 10 in status s, reached through the
// lifecycle, and its venue for further reports. Its pending_cancel order
// was acknowledged first, as the dispatcher does before it sends a cancel.
func orderIn(t *testing.T, s domain.Status) (domain.Order, *venue) {
	t.Helper()
	o := newOrder(t, 10)
	v := &venue{o: o}
	switch s {
	case domain.Pending:
	case domain.Placed:
		o = run(t, o, v.ack())
	case domain.PartiallyFilled:
		o = run(t, o, v.ack(), v.fill(4, 10000))
	case domain.PendingCancel:
		o = run(t, o, v.ack(), cancel(true))
	case domain.Filled:
		o = run(t, o, v.ack(), v.fill(10, 10000))
	case domain.Canceled:
		o = run(t, o, v.ack(), v.canceled())
	case domain.Expired:
		o = run(t, o, v.ack(), v.expired())
	case domain.Rejected:
		o = run(t, o, reject)
	default:
		t.Fatalf("no way to %s", s)
	}
	return o, v
}

func cancel(placementSent bool) input {
	return input{fmt.Sprintf("RequestCancel(sent=%v)", placementSent), func(o domain.Order) (domain.Order, []domain.Event, error) {
		return domain.RequestCancel(o, placementSent, t0.Add(time.Hour))
	}}
}

func TestLifecycle(t *testing.T) {
	type step = func(*venue) input
	ack := func(v *venue) input { return v.ack() }
	fill := func(qty int64) step { return func(v *venue) input { return v.fill(qty, 10000) } }
	canceled := func(v *venue) input { return v.canceled() }
	expired := func(v *venue) input { return v.expired() }
	rejected := func(v *venue) input { return v.rejected() }
	cancelRejected := func(v *venue) input { return v.cancelRejected() }
	cancelSent := func(*venue) input { return cancel(true) }
	cancelUnsent := func(*venue) input { return cancel(false) }
	tests := []struct {
		name   string
		from   domain.Status
		before []step // to set the scene, after reaching from
		do     step
		want   domain.Status
		filled int64
		err    error
	}{
		{"ack places", domain.Pending, nil, ack, domain.Placed, 0, nil},
		{"ack again changes nothing", domain.Placed, nil, ack, domain.Placed, 0, nil},
		{"late ack on partially filled", domain.PartiallyFilled, nil, ack, domain.PartiallyFilled, 4, nil},
		{"late ack on pending cancel", domain.PendingCancel, nil, ack, domain.PendingCancel, 0, nil},
		{"late ack on filled", domain.Filled, nil, ack, domain.Filled, 10, nil},
		{"late ack on canceled", domain.Canceled, nil, ack, domain.Canceled, 0, nil},
		{"late ack on expired", domain.Expired, nil, ack, domain.Expired, 0, nil},
		{"ack wins over a refused call", domain.Rejected, nil, ack, domain.Placed, 0, nil},
		{"ack on a rejected order with fills", domain.Rejected, []step{fill(3)}, ack, domain.PartiallyFilled, 3, nil},
		{"ack on a rejected order filled", domain.Rejected, []step{fill(10)}, ack, domain.Filled, 10, nil},

		{"fill before the ack", domain.Pending, nil, fill(4), domain.PartiallyFilled, 4, nil},
		{"whole fill before the ack", domain.Pending, nil, fill(10), domain.Filled, 10, nil},
		{"partial fill", domain.Placed, nil, fill(4), domain.PartiallyFilled, 4, nil},
		{"whole fill", domain.Placed, nil, fill(10), domain.Filled, 10, nil},
		{"another partial fill", domain.PartiallyFilled, nil, fill(2), domain.PartiallyFilled, 6, nil},
		{"last fill", domain.PartiallyFilled, nil, fill(6), domain.Filled, 10, nil},
		{"fill while cancel is pending", domain.PendingCancel, nil, fill(2), domain.PendingCancel, 2, nil},
		{"fill wins over a pending cancel", domain.PendingCancel, []step{fill(2)}, fill(8), domain.Filled, 10, nil},
		{"delayed fill on canceled", domain.Canceled, nil, fill(3), domain.Canceled, 3, nil},
		{"delayed fill on expired", domain.Expired, nil, fill(3), domain.Expired, 3, nil},
		{"fill on rejected counts", domain.Rejected, nil, fill(3), domain.Rejected, 3, nil},
		{"fill beyond the quantity", domain.PartiallyFilled, nil, fill(7), domain.PartiallyFilled, 4, domain.ErrOverfill},
		{"fill on filled", domain.Filled, nil, fill(1), domain.Filled, 10, domain.ErrOverfill},

		{"canceled before the ack", domain.Pending, nil, canceled, domain.Canceled, 0, nil},
		{"canceled", domain.Placed, nil, canceled, domain.Canceled, 0, nil},
		{"canceled after a fill", domain.PartiallyFilled, nil, canceled, domain.Canceled, 4, nil},
		{"cancel confirmed", domain.PendingCancel, nil, canceled, domain.Canceled, 0, nil},
		{"canceled after filled", domain.Filled, nil, canceled, domain.Filled, 10, nil},
		{"canceled on expired", domain.Expired, nil, canceled, domain.Expired, 0, nil},
		{"canceled on a refused call", domain.Rejected, nil, canceled, domain.Canceled, 0, nil},
		{"expired before the ack", domain.Pending, nil, expired, domain.Expired, 0, nil},
		{"expired", domain.Placed, nil, expired, domain.Expired, 0, nil},
		{"expired after a fill", domain.PartiallyFilled, nil, expired, domain.Expired, 4, nil},
		{"expired while cancel is pending", domain.PendingCancel, nil, expired, domain.Expired, 0, nil},
		{"expired on canceled", domain.Canceled, nil, expired, domain.Canceled, 0, nil},
		{"expired on filled", domain.Filled, nil, expired, domain.Filled, 10, nil},

		{"rejected", domain.Pending, nil, rejected, domain.Rejected, 0, nil},
		{"rejected twice", domain.Rejected, nil, rejected, domain.Rejected, 0, nil},
		{"refusal after the ack", domain.Placed, nil, rejected, domain.Placed, 0, nil},
		{"refusal after a fill", domain.PartiallyFilled, nil, rejected, domain.PartiallyFilled, 4, nil},
		{"refusal on filled", domain.Filled, nil, rejected, domain.Filled, 10, nil},

		{"cancel refused", domain.PendingCancel, nil, cancelRejected, domain.Placed, 0, nil},
		{"cancel refused after a fill", domain.PendingCancel, []step{fill(3)}, cancelRejected, domain.PartiallyFilled, 3, nil},
		{"cancel refused twice", domain.Placed, nil, cancelRejected, domain.Placed, 0, nil},
		{"cancel refused on filled", domain.Filled, nil, cancelRejected, domain.Filled, 10, nil},
		{"cancel refused on canceled", domain.Canceled, nil, cancelRejected, domain.Canceled, 0, nil},

		{"cancel in flight", domain.Pending, nil, cancelSent, domain.PendingCancel, 0, nil},
		{"cancel before sending", domain.Pending, nil, cancelUnsent, domain.Canceled, 0, nil},
		{"cancel placed", domain.Placed, nil, cancelSent, domain.PendingCancel, 0, nil},
		{"cancel partially filled", domain.PartiallyFilled, nil, cancelSent, domain.PendingCancel, 4, nil},
		{"cancel again", domain.PendingCancel, nil, cancelSent, domain.PendingCancel, 0, nil},
		{"cancel canceled", domain.Canceled, nil, cancelSent, domain.Canceled, 0, nil},
		{"cancel canceled, never sent", domain.Canceled, nil, cancelUnsent, domain.Canceled, 0, nil},
		{"cancel filled", domain.Filled, nil, cancelSent, domain.Filled, 10, domain.ErrTransition},
		{"cancel expired", domain.Expired, nil, cancelSent, domain.Expired, 0, domain.ErrTransition},
		{"cancel rejected", domain.Rejected, nil, cancelUnsent, domain.Rejected, 0, domain.ErrTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, v := orderIn(t, tt.from)
			for _, s := range tt.before {
				o = run(t, o, s(v))
			}
			in := tt.do(v)
			got, events, err := in.do(o)
			if !errors.Is(err, tt.err) {
				t.Fatalf("%s: error %v; want %v", in.name, err, tt.err)
			}
			if err != nil {
				if diff := cmp.Diff(o, got); diff != "" || events != nil {
					t.Errorf("%s failed but changed the order (-before +after):\n%s\nevents %v", in.name, diff, events)
				}
				return
			}
			checkStep(t, in.name, o, got, events)
			if got.Status != tt.want || got.FilledQuantity() != tt.filled {
				t.Errorf("%s: %s, filled %d; want %s, filled %d", in.name, got.Status, got.FilledQuantity(), tt.want, tt.filled)
			}
		})
	}
}

func TestCancelRefusedBeforeTheAckGoesBackToPending(t *testing.T) {
	o := newOrder(t, 10)
	v := &venue{o: o}
	// Out of order: the exchange refused a cancel of an order whose ack
	// has not arrived yet.
	o = run(t, o, cancel(true), v.cancelRejected())
	if o.Status != domain.Pending {
		t.Errorf("status %s; want pending", o.Status)
	}
	o = run(t, o, v.ack())
	if o.Status != domain.Placed {
		t.Errorf("after the ack, status %s; want placed", o.Status)
	}
}

func TestApplyIgnoresDuplicates(t *testing.T) {
	o, v := orderIn(t, domain.Placed)
	fill, ack := v.fill(4, 10000), v.ack()
	once := run(t, o, fill, ack)
	for _, in := range []input{fill, ack} {
		got, events, err := in.do(once)
		if err != nil || events != nil {
			t.Errorf("%s again: events %v, error %v; want none", in.name, events, err)
		}
		if diff := cmp.Diff(once, got); diff != "" {
			t.Errorf("%s again changed the order (-before +after):\n%s", in.name, diff)
		}
	}
}

func TestApplyRefusesBadReports(t *testing.T) {
	o, _ := orderIn(t, domain.Placed)
	other := newOrder(t, 10)
	good := domain.Report{Seq: 9, ExecID: "E9", OrderID: o.ID, Kind: domain.ReportFill, LastQty: 10, LastPrice: 10000, At: t0}
	tests := []struct {
		name string
		edit func(*domain.Report)
		want error
	}{
		{"another order's report", func(r *domain.Report) { r.OrderID = other.ID }, domain.ErrInvalid},
		{"no exec id", func(r *domain.Report) { r.ExecID = "" }, domain.ErrInvalid},
		{"fill of nothing", func(r *domain.Report) { r.LastQty = 0 }, domain.ErrInvalid},
		{"overfill", func(r *domain.Report) { r.LastQty = 11 }, domain.ErrOverfill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.edit(&r)
			got, events, err := domain.Apply(o, r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply error %v; want %v", err, tt.want)
			}
			if diff := cmp.Diff(o, got); diff != "" || events != nil {
				t.Errorf("Apply failed but changed the order (-before +after):\n%s\nevents %v", diff, events)
			}
		})
	}
}

func TestApplyTimes(t *testing.T) {
	o := newOrder(t, 10)
	v := &venue{o: o}
	ack, fill, canceled := v.ack(), v.fill(4, 10000), v.canceled() // at t0+1s, +2s, +3s

	o = run(t, o, fill)
	if want := t0.Add(2 * time.Second); !o.UpdatedAt.Equal(want) || !o.PlacedAt.IsZero() {
		t.Errorf("after the fill: UpdatedAt %v, PlacedAt %v; want %v and zero", o.UpdatedAt, o.PlacedAt, want)
	}
	// The earlier ack, late: it sets PlacedAt but leaves UpdatedAt.
	o = run(t, o, ack)
	if !o.UpdatedAt.Equal(t0.Add(2*time.Second)) || !o.PlacedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("after the late ack: UpdatedAt %v, PlacedAt %v", o.UpdatedAt, o.PlacedAt)
	}
	// The dispatcher's ack came back earlier still.
	o = run(t, o, acknowledge)
	if !o.PlacedAt.Equal(t0.Add(500 * time.Millisecond)) {
		t.Errorf("after the dispatcher's earlier ack: PlacedAt %v; want %v", o.PlacedAt, t0.Add(500*time.Millisecond))
	}
	o = run(t, o, canceled)
	if want := t0.Add(3 * time.Second); !o.UpdatedAt.Equal(want) {
		t.Errorf("after cancel: UpdatedAt %v; want %v", o.UpdatedAt, want)
	}
	// Nothing changes, so nothing moves.
	same := run(t, o, canceled, v.ack())
	if diff := cmp.Diff(o, same); diff != "" {
		t.Errorf("repeated reports changed the order (-before +after):\n%s", diff)
	}
}

func TestRejectRecordsTheReason(t *testing.T) {
	o, _, _ := domain.Reject(newOrder(t, 10), "unknown instrument", t0)
	if o.Status != domain.Rejected || o.LastError != "unknown instrument" || !o.UpdatedAt.Equal(t0) {
		t.Errorf("Reject: status %s, LastError %q, UpdatedAt %v", o.Status, o.LastError, o.UpdatedAt)
	}
	// Kept for operators even when the acknowledgement wins.
	placed, _ := orderIn(t, domain.Placed)
	o, events, err := domain.Reject(placed, "duplicate", t0.Add(time.Minute))
	if err != nil || events != nil || o.Status != domain.Placed || o.LastError != "duplicate" {
		t.Errorf("Reject of a placed order: status %s, LastError %q, events %v, error %v", o.Status, o.LastError, events, err)
	}
}

func TestApplyDoesNotShareFills(t *testing.T) {
	o, v := orderIn(t, domain.PartiallyFilled)
	o.Fills = slices.Grow(o.Fills, 4) // room to append in place
	a := run(t, o, v.fill(1, 10000))
	b := run(t, o, v.fill(2, 20000))
	if a.Fills[1].Quantity != 1 || b.Fills[1].Quantity != 2 || len(o.Fills) != 1 {
		t.Errorf("two fills of one order clobbered each other: %v and %v", a.Fills, b.Fills)
	}
}

// outcome is what must not depend on the order reports arrive in.
type outcome struct {
	Status    domain.Status
	Filled    int64
	Average   string
	Fills     []domain.Fill // sorted by ExecID
	PlacedAt  time.Time
	LastError string
}

func outcomeOf(o domain.Order) outcome {
	avg, ok := o.AverageFillPrice()
	out := outcome{Status: o.Status, Filled: o.FilledQuantity(), Fills: slices.Clone(o.Fills), PlacedAt: o.PlacedAt, LastError: o.LastError}
	if ok {
		out.Average = avg.String()
	}
	slices.SortFunc(out.Fills, func(a, b domain.Fill) int { return strings.Compare(a.ExecID, b.ExecID) })
	return out
}

// sequence is one order's real life at the exchange.
type sequence struct {
	name    string
	start   domain.Order
	inputs  []input
	status  domain.Status
	filled  int64
	average string
}

func sequences(t testing.TB) []sequence {
	pending := func(qty int64) (domain.Order, *venue) {
		o := newOrder(t, qty)
		return o, &venue{o: o}
	}
	pendingCancel := func(qty int64) (domain.Order, *venue) {
		o, v := pending(qty)
		o, _, err := domain.RequestCancel(o, true, t0)
		if err != nil {
			t.Fatal(err)
		}
		return o, v
	}
	var seqs []sequence
	add := func(name string, o domain.Order, inputs []input, status domain.Status, filled int64, average string) {
		seqs = append(seqs, sequence{name, o, inputs, status, filled, average})
	}
	o, v := pending(10)
	add("filled in two", o, []input{v.ack(), v.fill(4, 10000), v.fill(6, 10000)}, domain.Filled, 10, "100.00")
	o, v = pending(10)
	add("canceled after a partial fill", o, []input{v.ack(), v.fill(3, 10000), v.canceled()}, domain.Canceled, 3, "100.00")
	o, v = pending(10)
	add("expired", o, []input{v.ack(), v.expired()}, domain.Expired, 0, "")
	o, v = pendingCancel(10)
	add("cancel refused, then filled", o, []input{v.ack(), v.fill(2, 10000), v.cancelRejected(), v.fill(8, 10000)}, domain.Filled, 10, "100.00")
	o, v = pendingCancel(10)
	add("cancel refused after a partial fill", o, []input{v.ack(), v.fill(2, 10000), v.cancelRejected()}, domain.PartiallyFilled, 2, "100.00")
	o, v = pendingCancel(10)
	add("cancel confirmed", o, []input{v.ack(), v.canceled()}, domain.Canceled, 0, "")
	o, v = pendingCancel(10)
	add("filled before the cancel", o, []input{v.ack(), v.fill(5, 10000), v.fill(5, 10001), v.cancelRejected()}, domain.Filled, 10, "100.005")
	o, v = pending(10)
	add("rejected", o, []input{v.rejected()}, domain.Rejected, 0, "")
	o, v = pending(10)
	add("rejected twice over", o, []input{v.rejected(), reject}, domain.Rejected, 0, "")
	o, v = pending(3)
	add("average that does not terminate", o, []input{v.ack(), v.fill(1, 9999), v.fill(1, 10001), v.fill(1, 10001)}, domain.Filled, 3, "100.003333")
	o, v = pending(domain.MaxQuantity)
	add("largest order", o, []input{acknowledge, v.fill(domain.MaxQuantity-1, int64(domain.MaxPrice)), v.fill(1, 1), v.ack()}, domain.Filled, domain.MaxQuantity, "999999998.99")
	// One call refused for good, another acknowledged: the exchange's
	// record, which has the acknowledgement, decides.
	o, v = pending(10)
	add("refused call, acknowledged order, canceled", o, []input{reject, v.ack(), v.fill(3, 10000), v.canceled()}, domain.Canceled, 3, "100.00")
	o, v = pending(10)
	add("refused call, acknowledged order, filled", o, []input{reject, v.ack(), v.fill(3, 10000), v.fill(7, 10000)}, domain.Filled, 10, "100.00")
	o, v = pending(10)
	add("refused call, acknowledged order, working", o, []input{reject, acknowledge, v.ack(), v.fill(3, 10000)}, domain.PartiallyFilled, 3, "100.00")
	return seqs
}

// TestApplyIsOrderIndependent applies every permutation of each sequence,
// then random shuffles with duplicates, and wants the same order each time.
func TestApplyIsOrderIndependent(t *testing.T) {
	for _, s := range sequences(t) {
		t.Run(s.name, func(t *testing.T) {
			want := outcomeOf(run(t, s.start, s.inputs...))
			if want.Status != s.status || want.Filled != s.filled || want.Average != s.average {
				t.Fatalf("in order: %s, filled %d at %q; want %s, filled %d at %q",
					want.Status, want.Filled, want.Average, s.status, s.filled, s.average)
			}
			for p := range permutations(s.inputs) {
				if diff := cmp.Diff(want, outcomeOf(run(t, s.start, p...))); diff != "" {
					t.Fatalf("%s (-in order +permuted):\n%s", names(p), diff)
				}
			}
			rng := rand.New(rand.NewPCG(uint64(len(s.name)), 42)) // seeded: failures reproduce
			for range 2000 {
				p := slices.Clone(s.inputs)
				rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
				for range rng.IntN(4) {
					p = slices.Insert(p, rng.IntN(len(p)+1), p[rng.IntN(len(p))])
				}
				if diff := cmp.Diff(want, outcomeOf(run(t, s.start, p...))); diff != "" {
					t.Fatalf("%s (-in order +shuffled):\n%s", names(p), diff)
				}
			}
		})
	}
}

// permutations yields every ordering of in (Heap's algorithm).
func permutations(in []input) func(yield func([]input) bool) {
	return func(yield func([]input) bool) {
		p := slices.Clone(in)
		c := make([]int, len(p))
		if !yield(slices.Clone(p)) {
			return
		}
		for i := 0; i < len(p); {
			if c[i] >= i {
				c[i] = 0
				i++
				continue
			}
			if i%2 == 0 {
				p[0], p[i] = p[i], p[0]
			} else {
				p[c[i]], p[i] = p[i], p[c[i]]
			}
			if !yield(slices.Clone(p)) {
				return
			}
			c[i]++
			i = 0
		}
	}
}

func names(in []input) string {
	s := make([]string, len(in))
	for i, x := range in {
		s[i] = x.name
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func TestPermutations(t *testing.T) {
	in := []input{{name: "a"}, {name: "b"}, {name: "c"}, {name: "d"}}
	seen := map[string]bool{}
	for p := range permutations(in) {
		seen[names(p)] = true
	}
	if len(seen) != 24 {
		t.Errorf("%d distinct permutations of 4; want 24", len(seen))
	}
}
