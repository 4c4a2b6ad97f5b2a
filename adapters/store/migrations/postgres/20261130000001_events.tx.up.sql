-- Order events (CONTRACT §2.7), written in the same transaction as the
-- change they describe. seq is taken inside that transaction, so it does
-- not follow commit order; id, the event's public number, is given after
-- commit by SequenceEvents, one sequencer at a time, so that it does.
-- order_doc is the order as after the change, with its fills (JSON);
-- fill is the execution that caused the event (JSON), if one did.
CREATE TABLE events (
    seq         bigserial   PRIMARY KEY,
    id          bigint,
    account     text        NOT NULL CHECK (account <> ''),
    order_id    uuid        NOT NULL,
    type        text        NOT NULL CHECK (type IN ('order.created', 'order.placed', 'order.partially_filled',
        'order.filled', 'order.pending_cancel', 'order.canceled', 'order.expired', 'order.rejected')),
    occurred_at timestamptz NOT NULL,
    order_doc   text        NOT NULL,
    fill        text
);

--bun:split

-- The stream of every account, and of one, by id. Partial: an event is
-- indexed by id once the sequencer numbers it, not when order intake
-- writes it.
CREATE UNIQUE INDEX events_id ON events (id) WHERE id IS NOT NULL;

--bun:split

CREATE INDEX events_account_id ON events (account, id) WHERE id IS NOT NULL;

--bun:split

-- One order's events.
CREATE INDEX events_order_seq ON events (order_id, seq);

--bun:split

-- What the sequencer has still to number.
CREATE INDEX events_unsequenced ON events (seq) WHERE id IS NULL;

--bun:split

-- Purges by age: events are appended about in time order, which a BRIN
-- index summarises for next to nothing per insert.
CREATE INDEX events_occurred_at ON events USING brin (occurred_at);

--bun:split

-- One row: the largest event id purged, below which the stream can no
-- longer be resumed.
CREATE TABLE event_meta (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    purged_through bigint  NOT NULL DEFAULT 0
);

--bun:split

INSERT INTO event_meta (one, purged_through) VALUES (true, 0);

--bun:split

-- Webhook endpoints (CONTRACT §2.8). An endpoint that answered 410 Gone is
-- disabled, not deleted.
CREATE TABLE webhooks (
    id          text        PRIMARY KEY,
    account     text        NOT NULL CHECK (account <> ''),
    url         text        NOT NULL,
    secret      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    disabled_at timestamptz
);

--bun:split

CREATE INDEX webhooks_account ON webhooks (account, created_at);

--bun:split

-- The webhook outbox: one row per event and enabled endpoint of its
-- account, written with the event, deleted once delivered or given up.
-- No foreign keys: a key check would lock the endpoint's row, and order
-- intake must never wait for a claim that holds it.
CREATE TABLE webhook_deliveries (
    webhook_id  text        NOT NULL,
    event_seq   bigint      NOT NULL,
    due_at      timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    lease_owner text,
    lease_until timestamptz,
    enqueued_at timestamptz NOT NULL,
    PRIMARY KEY (webhook_id, event_seq)
);

--bun:split

-- Claims: each endpoint's oldest due deliveries, and the leases held.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, due_at, event_seq);

--bun:split

CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (webhook_id, lease_until) WHERE lease_until IS NOT NULL;

--bun:split

CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq);
