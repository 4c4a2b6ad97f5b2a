-- The order lifecycle (domain/lifecycle.go): eight statuses, the time of the
-- last change, and the filled quantity, which never exceeds the quantity.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;

--bun:split

ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN
    ('pending', 'placed', 'partially_filled', 'pending_cancel', 'filled', 'canceled', 'expired', 'rejected'));

--bun:split

ALTER TABLE orders ADD COLUMN updated_at timestamptz;

--bun:split

UPDATE orders SET updated_at = COALESCE(placed_at, created_at);

--bun:split

ALTER TABLE orders ALTER COLUMN updated_at SET NOT NULL;

--bun:split

ALTER TABLE orders ADD COLUMN filled_quantity bigint NOT NULL DEFAULT 0
    CONSTRAINT orders_filled_quantity_check CHECK (filled_quantity >= 0 AND filled_quantity <= quantity);

--bun:split

-- The outbox holds a job per order and kind: "place" until the exchange
-- acknowledges the order, "cancel" while a cancel request is to be sent. A
-- job with no due_at waits (a cancel waits for the acknowledgement).
ALTER TABLE placement_jobs RENAME TO jobs;

--bun:split

ALTER TABLE jobs ADD COLUMN kind text NOT NULL DEFAULT 'place' CONSTRAINT jobs_kind_check CHECK (kind IN ('place', 'cancel'));

--bun:split

ALTER TABLE jobs ALTER COLUMN kind DROP DEFAULT;

--bun:split

ALTER TABLE jobs DROP CONSTRAINT placement_jobs_pkey;

--bun:split

ALTER TABLE jobs ADD CONSTRAINT jobs_pkey PRIMARY KEY (order_id, kind);

--bun:split

ALTER TABLE jobs ALTER COLUMN due_at DROP NOT NULL;

--bun:split

ALTER INDEX placement_jobs_due_at RENAME TO jobs_due_at;

--bun:split

ALTER TABLE jobs RENAME CONSTRAINT placement_jobs_order_id_fkey TO jobs_order_id_fkey;

--bun:split

-- Every execution report applied, one row each: exec_id makes a repeated
-- report harmless. Fills are the reports of kind partial_fill and fill.
CREATE TABLE executions (
    exec_id     text        PRIMARY KEY,
    order_id    uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    session     text        NOT NULL,
    seq         bigint      NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('ack', 'partial_fill', 'fill', 'canceled', 'expired', 'rejected', 'cancel_rejected')),
    quantity    bigint      NOT NULL CHECK (quantity >= 0),
    price_cents bigint      CHECK (price_cents > 0),
    executed_at timestamptz NOT NULL,
    reason      text
);

--bun:split

-- An order's fills, oldest first, from the index alone: the query that
-- reads them runs for every batch of reports, and a table growing fast
-- (its statistics behind) must not tempt the planner into a scan.
CREATE INDEX executions_fills ON executions (order_id, executed_at, seq) INCLUDE (exec_id, quantity, price_cents)
    WHERE kind IN ('partial_fill', 'fill');

--bun:split

-- Reports about orders this database does not hold, kept aside, not dropped.
CREATE TABLE unknown_reports (
    session     text        NOT NULL,
    seq         bigint      NOT NULL,
    exec_id     text        NOT NULL,
    order_id    text        NOT NULL,
    kind        text        NOT NULL,
    report      text        NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (session, seq)
);

--bun:split

-- The last report applied from each venue session's feed.
CREATE TABLE feed_positions (
    session    text        PRIMARY KEY,
    last_seq   bigint      NOT NULL CHECK (last_seq >= 0),
    updated_at timestamptz NOT NULL
);

--bun:split

-- Leases that make one instance of many the active one for a task (the
-- feed's ingester); the holder renews its lease, a standby takes over an
-- expired one.
CREATE TABLE leases (
    name       text        PRIMARY KEY,
    owner      text        NOT NULL,
    expires_at timestamptz NOT NULL
);
