-- Accounts and API keys (CONTRACT §2.1). Orders and idempotency keys
-- belong to an account; the orders stored before accounts existed belong
-- to "default", the account of the key a fresh database gets. SQLite keeps
-- the column's default (it cannot drop one); the store always writes the
-- account.
ALTER TABLE orders ADD COLUMN account TEXT NOT NULL DEFAULT 'default' CHECK (account <> '');

--bun:split

CREATE INDEX orders_account_id ON orders (account, id DESC);

--bun:split

CREATE INDEX orders_account_status_id ON orders (account, status, id DESC);

--bun:split

DROP INDEX orders_status_id;

--bun:split

-- The key's primary key becomes (account, key): SQLite rebuilds the table.
CREATE TABLE idempotency_keys_new (
    account     TEXT      NOT NULL,
    key         TEXT      NOT NULL,
    fingerprint TEXT      NOT NULL,
    order_id    TEXT      NOT NULL REFERENCES orders (id) ON DELETE CASCADE
                                    DEFERRABLE INITIALLY DEFERRED, -- the key row goes in first
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (account, key)
);

--bun:split

INSERT INTO idempotency_keys_new (account, key, fingerprint, order_id, created_at)
    SELECT 'default', key, fingerprint, order_id, created_at FROM idempotency_keys;

--bun:split

DROP TABLE idempotency_keys;

--bun:split

ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;

--bun:split

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

--bun:split

-- API keys, as the SHA-256 of the key (hex): the key itself is shown once,
-- when created, and never stored. Keys are revoked, never deleted.
CREATE TABLE api_keys (
    id           TEXT      PRIMARY KEY,
    account      TEXT      NOT NULL CHECK (account <> ''),
    hash         TEXT      NOT NULL UNIQUE CHECK (length(hash) = 64),
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);
