-- Issue 12: each event row is written once. An event's public id no
-- longer lives in its row, which the sequencer had to rewrite (the wide
-- row and every index entry) to number it; the sequencer appends it to
-- event_ids instead, a narrow insert-only table. Order intake queues each
-- new event in pending_events, which the sequencer empties; readers see
-- only events joined to their id.
CREATE TABLE event_ids (
    id      bigint PRIMARY KEY,
    seq     bigint NOT NULL UNIQUE,
    account text   NOT NULL
);

--bun:split

-- The stream of one account, by id.
CREATE INDEX event_ids_account ON event_ids (account, id);

--bun:split

-- What the sequencer has still to number, with what event_ids needs of
-- the event, so that numbering never reads the event's row. A queue: every
-- row is deleted soon after it is written, so vacuum it by the number of
-- dead rows, not by a fraction of a table that is almost always empty.
CREATE TABLE pending_events (
    seq     bigint PRIMARY KEY,
    account text   NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

--bun:split

-- Numbered events keep their ids; unnumbered ones stay pending.
INSERT INTO event_ids (id, seq, account) SELECT id, seq, account FROM events WHERE id IS NOT NULL;

--bun:split

INSERT INTO pending_events (seq, account) SELECT seq, account FROM events WHERE id IS NULL;

--bun:split

-- Drops the indexes events_id, events_account_id and events_unsequenced
-- with it; PostgreSQL does not rewrite the table.
ALTER TABLE events DROP COLUMN id;
