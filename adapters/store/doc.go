// Package store implements ordergate's order store and placement outbox
// (ports.Orders and ports.Outbox) on bun, for SQLite (through sqliteshim,
// pure Go on common platforms) and PostgreSQL (through pgx). Each order and
// its placement job are written in one transaction; dispatchers claim jobs
// with a lease, with FOR UPDATE SKIP LOCKED on PostgreSQL.
package store
