// Package domain holds ordergate's order model: the Order entity, its value
// objects (ID, ISIN, Price, Decimal), the rules every order obeys, and the
// sentinel errors the rest of the module wraps. It imports only the
// standard library, so any Go program can embed it.
//
// An order's life is one table, in lifecycle.go: for each Status and each
// Trigger (an acknowledgement, a fill, a cancel, ...), the next status,
// ranked FIX-style so that a late report never overwrites a later state.
// Apply, Acknowledge, Reject and RequestCancel are pure functions over it:
// each takes an Order and returns the changed Order and its Events, which
// the caller stores in one transaction. Reports from the exchange may
// arrive late, twice or out of order; the order ends the same either way.
package domain
