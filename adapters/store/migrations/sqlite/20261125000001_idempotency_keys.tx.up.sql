-- Idempotency-Key of POST /orders: the first request's fingerprint and the
-- order it created. Purged after the retention period.
CREATE TABLE idempotency_keys (
    key         TEXT      PRIMARY KEY,
    fingerprint TEXT      NOT NULL,
    order_id    TEXT      NOT NULL REFERENCES orders (id) ON DELETE CASCADE
                                    DEFERRABLE INITIALLY DEFERRED, -- the key row goes in first
    created_at  TIMESTAMP NOT NULL
);

--bun:split

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
