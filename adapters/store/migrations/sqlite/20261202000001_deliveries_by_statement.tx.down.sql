CREATE TRIGGER events_deliveries AFTER INSERT ON events BEGIN
    INSERT INTO webhook_deliveries (webhook_id, event_seq, due_at, attempts, enqueued_at)
    SELECT id, NEW.seq, NEW.occurred_at, 0, NEW.occurred_at FROM webhooks
    WHERE account = NEW.account AND disabled_at IS NULL;
END;
