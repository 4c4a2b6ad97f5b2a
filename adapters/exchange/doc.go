// Package exchange holds ordergate's exchange adapters, implementations of
// ports.Exchange. Sim is the in-process simulator of the reference
// place_order building block: slow, sometimes failing, and deduplicating by
// client order ID as real venues do.
package exchange
