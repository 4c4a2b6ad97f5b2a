package domain

import (
	"slices"
	"testing"
)

// triggers is every lifecycle input; TestEnumsCoverTheTable checks it
// against the table's keys.
var triggers = []Trigger{
	TriggerAck, TriggerFill, TriggerCanceled, TriggerExpired, TriggerRejected,
	TriggerCancelRejected, TriggerCancelRequest, TriggerCancelLocal,
}

func TestTransitionTableIsComplete(t *testing.T) {
	for _, s := range Statuses() {
		for _, on := range triggers {
			to, ok := transitions[edge{s, on}]
			if !ok {
				t.Errorf("no entry for %s on a %s order", on, s)
				continue
			}
			if !to.Valid() && to != keep && to != refuse && to != working {
				t.Errorf("%s on %s goes to %q, which is neither a status nor keep, refuse or working", on, s, to)
			}
		}
	}
	if got, want := len(transitions), len(statuses)*len(triggers); got != want {
		t.Errorf("the table has %d entries; want %d, one per status and trigger", got, want)
	}
}

// TestTransitionTableKeepsRank checks that no entry lowers an order's rank,
// except the listed ones, and that no entry changes an ended order, except
// the listed ones.
func TestTransitionTableKeepsRank(t *testing.T) {
	// working's targets, before settle makes a complete order filled.
	workingTargets := []Status{Pending, Placed, PartiallyFilled, Filled}
	lowers := map[edge]string{
		{PendingCancel, TriggerCancelRejected}: "a refused cancel goes back to working",
		{Rejected, TriggerAck}:                 "the exchange's acknowledgement wins over a refused call",
	}
	endsChange := map[edge]string{
		{Rejected, TriggerAck}:      "the exchange's acknowledgement wins over a refused call",
		{Rejected, TriggerCanceled}: "the exchange canceled it, so it had acknowledged it",
		{Rejected, TriggerExpired}:  "the exchange expired it, so it had acknowledged it",
	}
	for e, to := range transitions {
		targets := []Status{to}
		switch to {
		case keep, refuse:
			continue
		case working:
			targets = workingTargets
		}
		for _, target := range targets {
			if target.Rank() < e.from.Rank() && lowers[e] == "" {
				t.Errorf("%s on a %s order lowers it to %s", e.on, e.from, target)
			}
			if e.from.Terminal() && target != e.from && endsChange[e] == "" {
				t.Errorf("%s on a %s order changes it to %s", e.on, e.from, target)
			}
		}
	}
	// settle makes a complete order filled from any status that has not
	// ended, pending_cancel included: that only raises it, as long as
	// filled ranks highest.
	for _, s := range statuses {
		if s != Filled && s.Rank() >= Filled.Rank() {
			t.Errorf("%s ranks %d, not below filled (%d)", s, s.Rank(), Filled.Rank())
		}
	}
	for e := range lowers {
		if to := transitions[e]; to != working {
			t.Errorf("exception %s on %s is %q in the table; update the list", e.on, e.from, to)
		}
	}
}

func TestEnumsCoverTheTable(t *testing.T) {
	assertUnique(t, "Statuses()", Statuses())
	assertUnique(t, "EventTypes()", EventTypes())
	assertUnique(t, "ReportKinds()", ReportKinds())
	assertUnique(t, "triggers", triggers)

	for e := range transitions {
		if !slices.Contains(statuses, e.from) || !slices.Contains(triggers, e.on) {
			t.Errorf("table entry %s on %s is not in Statuses() and triggers", e.on, e.from)
		}
	}
	// Every status has its own event, and every event type belongs to a
	// status.
	var events []EventType
	for _, s := range Statuses() {
		if !s.Valid() || s.Rank() < 0 {
			t.Errorf("%s: Valid() = %v, Rank() = %d", s, s.Valid(), s.Rank())
		}
		events = append(events, eventOf(s))
	}
	assertUnique(t, "events of statuses", events)
	if !sameSet(events, EventTypes()) {
		t.Errorf("events of the statuses %v; want EventTypes() %v", events, EventTypes())
	}
	// Every report kind is an input of the table, and every input from the
	// exchange has a report kind.
	var fromExchange []Trigger
	for _, k := range ReportKinds() {
		if !slices.Contains(triggers, k.Trigger()) {
			t.Errorf("report kind %s maps to trigger %q, which the table does not know", k, k.Trigger())
		}
		if !slices.Contains(fromExchange, k.Trigger()) {
			fromExchange = append(fromExchange, k.Trigger())
		}
	}
	want := []Trigger{TriggerAck, TriggerFill, TriggerCanceled, TriggerExpired, TriggerRejected, TriggerCancelRejected}
	if !sameSet(fromExchange, want) {
		t.Errorf("report kinds map to %v; want %v", fromExchange, want)
	}
}

func assertUnique[T comparable](t *testing.T, name string, list []T) {
	t.Helper()
	seen := map[T]bool{}
	for _, v := range list {
		if seen[v] {
			t.Errorf("%s lists %v twice", name, v)
		}
		seen[v] = true
	}
}

func sameSet[T comparable](a, b []T) bool {
	return !slices.ContainsFunc(a, func(v T) bool { return !slices.Contains(b, v) }) &&
		!slices.ContainsFunc(b, func(v T) bool { return !slices.Contains(a, v) })
}
