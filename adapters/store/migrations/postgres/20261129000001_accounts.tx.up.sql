-- Accounts and API keys (CONTRACT §2.1). Orders and idempotency keys
-- belong to an account; the orders stored before accounts existed belong
-- to "default", the account of the key a fresh database gets.
ALTER TABLE orders ADD COLUMN account text NOT NULL DEFAULT 'default'
    CONSTRAINT orders_account_check CHECK (account <> '');

--bun:split

ALTER TABLE orders ALTER COLUMN account DROP DEFAULT;

--bun:split

-- Every listing is one account's, newest first, with or without a status.
CREATE INDEX orders_account_id ON orders (account, id DESC);

--bun:split

CREATE INDEX orders_account_status_id ON orders (account, status, id DESC);

--bun:split

DROP INDEX orders_status_id;

--bun:split

ALTER TABLE idempotency_keys ADD COLUMN account text NOT NULL DEFAULT 'default';

--bun:split

ALTER TABLE idempotency_keys ALTER COLUMN account DROP DEFAULT;

--bun:split

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;

--bun:split

ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (account, key);

--bun:split

-- API keys, as the SHA-256 of the key (hex): the key itself is shown once,
-- when created, and never stored. Keys are revoked, never deleted.
CREATE TABLE api_keys (
    id           text        PRIMARY KEY,
    account      text        NOT NULL CHECK (account <> ''),
    hash         text        NOT NULL UNIQUE CHECK (length(hash) = 64),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
