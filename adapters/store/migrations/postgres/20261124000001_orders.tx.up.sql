CREATE TABLE orders (
    id                 uuid        PRIMARY KEY,
    created_at         timestamptz NOT NULL,
    type               text        NOT NULL CHECK (type IN ('market', 'limit')),
    side               text        NOT NULL CHECK (side IN ('buy', 'sell')),
    instrument         text        NOT NULL CHECK (length(instrument) = 12),
    limit_price_cents  bigint      CHECK (limit_price_cents > 0),
    quantity           bigint      NOT NULL CHECK (quantity >= 1),
    status             text        NOT NULL CHECK (status IN ('pending', 'placed', 'rejected')),
    placement_attempts integer     NOT NULL DEFAULT 0,
    placed_at          timestamptz,
    last_error         text,
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
    order_id    uuid        PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    due_at      timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    lease_owner text
);

--bun:split

CREATE INDEX placement_jobs_due_at ON placement_jobs (due_at);
