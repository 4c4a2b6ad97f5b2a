-- Statuses, fills and cancel jobs have no place in the previous schema: going
-- back would lose them. Restore a backup taken before the migration instead.
DO $$ BEGIN
    RAISE EXCEPTION 'migration 20261128000001 (the order lifecycle) cannot be undone without losing fills and statuses: restore a backup';
END $$;
