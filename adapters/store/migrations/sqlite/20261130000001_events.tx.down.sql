DROP TABLE webhook_deliveries;

--bun:split

DROP TABLE webhooks;

--bun:split

DROP TABLE event_meta;

--bun:split

DROP TABLE events;
