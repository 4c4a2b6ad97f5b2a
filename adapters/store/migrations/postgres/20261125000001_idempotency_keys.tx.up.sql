-- Idempotency-Key of POST /orders: the first request's fingerprint and the
-- order it created. Purged after the retention period.
CREATE TABLE idempotency_keys (
    key         text        PRIMARY KEY,
    fingerprint text        NOT NULL,
    order_id    uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE
                                    DEFERRABLE INITIALLY DEFERRED, -- the key row goes in first
    created_at  timestamptz NOT NULL
);

--bun:split

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
