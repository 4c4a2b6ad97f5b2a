// Package store implements ordergate's order store and placement outbox
// (ports.Orders and ports.Outbox) on bun, for SQLite (through sqliteshim,
// pure Go on common platforms) and PostgreSQL (through pgx). Each order and
// its placement job are written in one transaction; dispatchers claim jobs
// with a lease, with FOR UPDATE SKIP LOCKED on PostgreSQL.
//
// Every change of an order writes its events (ports.Events) in the same
// transaction, with one webhook delivery (ports.Deliveries) per enabled
// endpoint (ports.Webhooks) of the order's account. On SQLite an event's
// ID is taken as it is written, writers taking turns; on PostgreSQL,
// where transactions commit in parallel, IDs are given after commit by
// SequenceEvents, one sequencer at a time, so that they follow commit
// order. EventsSignal wakes readers, across processes through
// LISTEN/NOTIFY on PostgreSQL.
package store
