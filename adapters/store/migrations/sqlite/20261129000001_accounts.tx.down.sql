-- Going back would merge every account's orders and keys into one.
SELECT RAISE(ABORT, 'migration 20261129000001 (accounts) cannot be undone without mixing accounts: restore a backup');
