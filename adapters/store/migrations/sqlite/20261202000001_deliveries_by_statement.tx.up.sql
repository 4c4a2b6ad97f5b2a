-- Each event's webhook deliveries are written by one statement per write
-- transaction (insertEventsPrepared) instead of this trigger: run for every
-- event, the trigger cost a create about 55 µs of CPU in the one writer
-- (BenchmarkCreateSQLite: about 130 -> 78 µs per create without it), even
-- for an account with no webhooks.
DROP TRIGGER events_deliveries;
