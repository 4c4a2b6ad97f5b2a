-- Order events (CONTRACT §2.7), written in the same transaction as the
-- change they describe. SQLite commits one writer at a time, so the order
-- events are inserted in is the order they commit in: id is seq. Queries
-- go by seq, the rowid; id names it for reads. Purges scan from the
-- oldest event (the first rowid) on, with no index of their own.
-- AUTOINCREMENT never hands out a number again after a purge.
-- order_doc is the order as after the change, with its fills (JSON);
-- fill is the execution that caused the event (JSON), if one did.
CREATE TABLE events (
    seq         INTEGER   PRIMARY KEY AUTOINCREMENT,
    id          INTEGER   GENERATED ALWAYS AS (seq) VIRTUAL,
    account     TEXT      NOT NULL CHECK (account <> ''),
    order_id    TEXT      NOT NULL,
    type        TEXT      NOT NULL CHECK (type IN ('order.created', 'order.placed', 'order.partially_filled',
        'order.filled', 'order.pending_cancel', 'order.canceled', 'order.expired', 'order.rejected')),
    occurred_at TIMESTAMP NOT NULL,
    order_doc   TEXT      NOT NULL,
    fill        TEXT
);

--bun:split

-- The stream of one account, by id: id is seq, the rowid, which every
-- index holds as its last column.
CREATE INDEX events_account ON events (account);

--bun:split

-- One order's events.
CREATE INDEX events_order_seq ON events (order_id, seq);

--bun:split

-- One row: the largest event id purged, below which the stream can no
-- longer be resumed.
CREATE TABLE event_meta (
    one            INTEGER PRIMARY KEY CHECK (one = 1),
    purged_through INTEGER NOT NULL DEFAULT 0
);

--bun:split

INSERT INTO event_meta (one, purged_through) VALUES (1, 0);

--bun:split

-- Webhook endpoints (CONTRACT §2.8). An endpoint that answered 410 Gone is
-- disabled, not deleted.
CREATE TABLE webhooks (
    id          TEXT      PRIMARY KEY,
    account     TEXT      NOT NULL CHECK (account <> ''),
    url         TEXT      NOT NULL,
    secret      TEXT      NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP
);

--bun:split

CREATE INDEX webhooks_account ON webhooks (account, created_at);

--bun:split

-- The webhook outbox: one row per event and enabled endpoint of its
-- account, written with the event, deleted once delivered or given up.
CREATE TABLE webhook_deliveries (
    webhook_id  TEXT      NOT NULL,
    event_seq   INTEGER   NOT NULL,
    due_at      TIMESTAMP NOT NULL,
    attempts    INTEGER   NOT NULL DEFAULT 0,
    last_error  TEXT,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    enqueued_at TIMESTAMP NOT NULL,
    PRIMARY KEY (webhook_id, event_seq)
);

--bun:split

-- Claims: each endpoint's oldest due deliveries, and the leases held.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, due_at, event_seq);

--bun:split

CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (webhook_id, lease_until) WHERE lease_until IS NOT NULL;

--bun:split

CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq);

--bun:split

-- Each event's deliveries, one per enabled endpoint of its account, written
-- with it: a trigger is compiled once with the schema, where a statement
-- of its own would be parsed again by every transaction.
CREATE TRIGGER events_deliveries AFTER INSERT ON events BEGIN
    INSERT INTO webhook_deliveries (webhook_id, event_seq, due_at, attempts, enqueued_at)
    SELECT id, NEW.seq, NEW.occurred_at, 0, NEW.occurred_at FROM webhooks
    WHERE account = NEW.account AND disabled_at IS NULL;
END;
