ALTER TABLE events ADD COLUMN id bigint;

--bun:split

UPDATE events AS e SET id = i.id FROM event_ids AS i WHERE i.seq = e.seq;

--bun:split

CREATE UNIQUE INDEX events_id ON events (id) WHERE id IS NOT NULL;

--bun:split

CREATE INDEX events_account_id ON events (account, id) WHERE id IS NOT NULL;

--bun:split

CREATE INDEX events_unsequenced ON events (seq) WHERE id IS NULL;

--bun:split

DROP TABLE pending_events;

--bun:split

DROP TABLE event_ids;
