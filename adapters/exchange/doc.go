// Package exchange holds ordergate's exchange adapters, the implementations
// of ports.Exchange.
//
// Sim is the in-process simulator of the reference place_order building
// block: slow, failing about one call in ten, and deduplicating by client
// order ID as real venues do, so that at-least-once placement executes each
// order once. SimHandler serves a Sim over HTTP (cmd/exchange-sim) and HTTP
// is the client for it, which lets tests put a real network and a separate
// process between ordergate and its exchange. Breaker wraps any of them in a
// circuit breaker.
package exchange
