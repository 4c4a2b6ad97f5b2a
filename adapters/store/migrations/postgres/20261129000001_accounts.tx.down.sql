-- Going back would merge every account's orders and keys into one.
DO $$ BEGIN
    RAISE EXCEPTION 'migration 20261129000001 (accounts) cannot be undone without mixing accounts: restore a backup';
END $$;
