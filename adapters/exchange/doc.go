// Package exchange holds ordergate's exchange adapters, the implementations
// of ports.Exchange and ports.Feed.
//
// Venue is the in-process simulated exchange. In front it is the reference
// place_order building block: slow, failing about one call in ten, and
// deduplicating by client order ID as real venues do, so that
// at-least-once placement executes each order once. Behind it orders work:
// marketable ones fill at the venue's one price, others rest until
// canceled or expired, and every change is an execution report on the
// venue's feed, numbered by session and sequence number, replayable and,
// for tests, faulty on demand. Its own record of each order is the truth
// that tests compare ordergate's view with.
//
// VenueHandler serves a Venue over HTTP and its feed over a WebSocket
// (cmd/exchange-sim); HTTP and WSFeed are the clients for them, which lets
// tests put a real network and a separate process between ordergate and
// its exchange. Breaker wraps any Exchange
// in a circuit breaker.
package exchange
