CREATE TABLE orders (
    id                 TEXT      PRIMARY KEY,
    created_at         TIMESTAMP NOT NULL,
    type               TEXT      NOT NULL CHECK (type IN ('market', 'limit')),
    side               TEXT      NOT NULL CHECK (side IN ('buy', 'sell')),
    instrument         TEXT      NOT NULL CHECK (length(instrument) = 12),
    limit_price_cents  INTEGER   CHECK (limit_price_cents > 0),
    quantity           INTEGER   NOT NULL CHECK (quantity >= 1),
    status             TEXT      NOT NULL CHECK (status IN ('pending', 'placed', 'rejected')),
    placement_attempts INTEGER   NOT NULL DEFAULT 0,
    placed_at          TIMESTAMP,
    last_error         TEXT,
    CHECK ((type = 'limit') = (limit_price_cents IS NOT NULL))
);

--bun:split

-- Listing by status, newest first, without a sort.
CREATE INDEX orders_status_id ON orders (status, id DESC);

--bun:split

-- One row per order still to be placed; deleted once settled, so claims stay
-- cheap however many orders are stored. due_at doubles as the lease: a
-- claim pushes it past the lease's end.
CREATE TABLE placement_jobs (
    order_id    TEXT      PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    due_at      TIMESTAMP NOT NULL,
    attempts    INTEGER   NOT NULL DEFAULT 0,
    lease_owner TEXT
);

--bun:split

CREATE INDEX placement_jobs_due_at ON placement_jobs (due_at);
