package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"
	"github.com/uptrace/bun/migrate"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// Dialect names, as Dialect returns them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

var (
	_ ports.Orders       = (*DB)(nil)
	_ ports.Outbox       = (*DB)(nil)
	_ ports.Keys         = (*DB)(nil)
	_ ports.Executions   = (*DB)(nil)
	_ ports.Leases       = (*DB)(nil)
	_ ports.OutboxStater = (*DB)(nil)
	_ ports.APIKeys      = (*DB)(nil)
	_ ports.KeyLookup    = (*DB)(nil)
	_ ports.Events       = (*DB)(nil)
	_ ports.EventSignal  = (*DB)(nil)
	_ ports.Webhooks     = (*DB)(nil)
	_ ports.Deliveries   = (*DB)(nil)
)

//go:embed migrations
var migrationFiles embed.FS

// DB is an order store and outbox, with the orders' events, webhooks and
// their deliveries, on one SQLite or PostgreSQL database. It is safe for
// concurrent use.
type DB struct {
	db *bun.DB
	// w runs write transactions: on SQLite a pool of one connection of
	// its own, which reads never take from the writer (see KeyByHash for
	// what reads on other connections cost it); on PostgreSQL db itself,
	// for intake writes only.
	w *bun.DB
	// bg serves background work, its writes and its reads: on PostgreSQL
	// a small pool of its own, so that claims, settles, reports,
	// deliveries, purges and the sequencer never hold a connection intake
	// waits for; on SQLite db (reads), the writes going through w.
	bg      *bun.DB
	dialect string

	// Concurrent creates, and concurrent settles, share transactions.
	creates *groupCommit[creation]
	settles *groupCommit[settlement]
	// wmu serializes this process's SQLite write transactions, intake
	// first. SQLite runs one writer at a time anyway; queueing here hands
	// the lock over at once, where contending connections would wait in
	// SQLite's busy handler, which polls with sleeps of up to 100 ms.
	wmu prioLock

	// signal tells subscribers that events may have become readable;
	// listener (PostgreSQL only) relays other processes' notifications
	// to it. written tells the sequencer that this process committed
	// events (on SQLite they are readable then too).
	signal   broadcaster
	written  broadcaster
	listener *listener

	// stmts are the SQLite writer's prepared statements.
	stmts stmtCache
}

// writeTx runs fn in a write transaction of class cls: on SQLite an
// intake write gets the writer before any waiting background write, on
// PostgreSQL a background write runs on the background pool. If fn wrote
// events, subscribers to WrittenSignal (and on SQLite, where they are
// readable at once, to EventsSignal) hear of it once the transaction
// committed.
func (d *DB) writeTx(ctx context.Context, cls writeClass, fn func(ctx context.Context, tx bun.Tx) error) error {
	wrote := false
	ctx = context.WithValue(ctx, wroteEventsKey{}, &wrote)
	err := func() error {
		if d.dialect == Postgres {
			if cls == background {
				return d.bg.RunInTx(ctx, nil, fn)
			}
			return d.w.RunInTx(ctx, nil, fn)
		}
		if err := d.wmu.lock(ctx, cls); err != nil {
			return err
		}
		defer d.wmu.unlock()
		d.stmts.prepare(ctx, d.w)
		ctx = context.WithValue(ctx, stmtCacheKey{}, &d.stmts)
		return d.w.RunInTx(ctx, nil, fn)
	}()
	if err == nil && wrote {
		d.written.notify()
		if d.dialect == SQLite {
			d.signal.notify()
		}
	}
	return err
}

// PostgreSQL connections per instance: intakeConns for requests (reads,
// creates, cancels), backgroundConns for the dispatcher, the ingester, the
// webhook sender, purges, TouchKeys and the sequencer, which then never
// hold a connection a request waits for. The event listener holds one
// more.
const (
	intakeConns     = 20
	backgroundConns = 8
)

// prepared, passed first among a PostgreSQL statement's arguments, has pgx
// prepare the statement once per connection and reuse it: for the fixed
// statements that carry a batch as arrays.
const prepared = pgx.QueryExecModeCacheStatement

// IsPostgres reports whether dsn selects PostgreSQL rather than a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open connects to the database dsn names: a postgres:// or postgresql:// URL
// selects PostgreSQL, anything else is a SQLite file path (or file: URI).
// It checks the database answers but does not migrate it; see Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var d *DB
	if IsPostgres(dsn) {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("store: parse PostgreSQL URL %s: %w", Redact(dsn), err)
		}
		// bun writes its arguments into the statement's text, so nearly
		// every statement it sends is new: pgx's default would prepare each
		// one (a second round trip) and cache it on every connection (the
		// memory of 512 statements per connection). They go in one round
		// trip instead; the few fixed statements with array arguments ask
		// to be prepared once per connection (prepared).
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
		sqldb := stdlib.OpenDB(*cfg)
		sqldb.SetMaxOpenConns(intakeConns)
		sqldb.SetMaxIdleConns(intakeConns)
		bgdb := stdlib.OpenDB(*cfg)
		bgdb.SetMaxOpenConns(backgroundConns)
		bgdb.SetMaxIdleConns(backgroundConns)
		db := bun.NewDB(sqldb, pgdialect.New())
		d = &DB{db: db, w: db, bg: bun.NewDB(bgdb, pgdialect.New()), dialect: Postgres}
		d.listener = &listener{dsn: dsn, out: &d.signal}
	} else {
		sqldb, err := sql.Open(sqliteshim.ShimName, sqliteDSN(dsn))
		if err != nil {
			return nil, fmt.Errorf("store: open SQLite %s: %w", dsn, err)
		}
		// SQLite runs one writer at a time whatever the pool: write
		// transactions have a connection of their own, and a few more let
		// reads proceed beside it (WAL).
		wdb, err := sql.Open(sqliteshim.ShimName, sqliteDSN(dsn))
		if err != nil {
			sqldb.Close()
			return nil, fmt.Errorf("store: open SQLite %s: %w", dsn, err)
		}
		for _, p := range []struct {
			db *sql.DB
			n  int
		}{{sqldb, 4}, {wdb, 1}} {
			p.db.SetMaxOpenConns(p.n)
			p.db.SetMaxIdleConns(p.n)
			p.db.SetConnMaxIdleTime(0)
			p.db.SetConnMaxLifetime(0)
		}
		db := bun.NewDB(sqldb, sqlitedialect.New())
		d = &DB{db: db, w: bun.NewDB(wdb, sqlitedialect.New()), bg: db, dialect: SQLite}
	}
	if err := d.Ping(ctx); err != nil {
		_ = d.closeDBs()
		return nil, fmt.Errorf("store: connect to %s: %w", Redact(dsn), err)
	}
	// SQLite has one writer: one committer. PostgreSQL commits in parallel.
	committers := 1
	if d.dialect == Postgres {
		committers = 4
	}
	d.creates = newGroupCommit(committers, d.createAll, d.createOne)
	d.settles = newGroupCommit(committers, d.settleAll, d.settleOne)
	return d, nil
}

// sqliteDSN adds the pragmas ordergate relies on: WAL so readers never
// block the writer, FULL sync so a committed order survives a power cut, a
// busy timeout so concurrent writers queue instead of failing, foreign keys,
// and IMMEDIATE transactions so a transaction that reads before it writes
// never fails to upgrade its lock.
func sqliteDSN(path string) string {
	const params = "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)&_txlock=immediate"
	if !strings.HasPrefix(path, "file:") {
		path = "file:" + path
	}
	if strings.Contains(path, "?") {
		return path + "&" + params
	}
	return path + "?" + params
}

// Redact hides the password in a database URL, for logs and errors.
func Redact(dsn string) string {
	if !IsPostgres(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}

// Dialect returns SQLite or Postgres.
func (d *DB) Dialect() string { return d.dialect }

// Bun returns the underlying bun database, for tests and benchmarks.
func (d *DB) Bun() *bun.DB { return d.db }

// Ping checks the database answers.
func (d *DB) Ping(ctx context.Context) error {
	// A query, not just a connection check: a SQLite file that vanished or a
	// PostgreSQL server that refuses queries must fail readiness.
	var one int
	if err := d.db.NewRaw("SELECT 1").Scan(ctx, &one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close stops group commits, once those under way are done, stops the
// event listener, closes the channels of EventsSignal and WrittenSignal
// and closes the database.
func (d *DB) Close() error {
	d.creates.close()
	d.settles.close()
	if d.listener != nil {
		d.listener.stop()
	}
	d.signal.close()
	d.written.close()
	d.stmts.close()
	return d.closeDBs()
}

// closeDBs closes the connection pools.
func (d *DB) closeDBs() error {
	err := d.db.Close()
	if d.w != d.db {
		err = errors.Join(err, d.w.Close())
	}
	if d.bg != d.db {
		err = errors.Join(err, d.bg.Close())
	}
	return err
}

// migrationLockKey is the PostgreSQL advisory lock that serializes
// migrations of instances starting at once ("ordergate" in ASCII).
const migrationLockKey = 0x6f72646572676174

// Migrate brings the schema up to date. It is idempotent, and safe when
// several processes migrate one PostgreSQL database at once.
func (d *DB) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrationFiles, "migrations/"+d.dialect)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	migrations := migrate.NewMigrations()
	if err := migrations.Discover(sub); err != nil {
		return fmt.Errorf("store: discover migrations: %w", err)
	}
	if d.dialect == SQLite {
		migrations.Add(sqliteLifecycle)
	}
	if d.dialect == Postgres {
		// bun's own lock table must exist before it can lock; an advisory
		// lock covers creating it too.
		conn, err := d.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", int64(migrationLockKey)); err != nil {
			return fmt.Errorf("store: migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", int64(migrationLockKey)) //nolint:errcheck // the lock also ends with the session
	}
	// Marked applied only once it succeeded: a migration that failed runs
	// again at the next start instead of being skipped for good.
	m := migrate.NewMigrator(d.db, migrations, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("store: init migrations: %w", err)
	}
	if _, err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// isUniqueViolation reports whether err is a primary key or unique
// constraint violation, in either database.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// orderNotFound wraps domain.ErrNotFound for id.
func orderNotFound(id domain.ID) error {
	return fmt.Errorf("store: order %s: %w", id, domain.ErrNotFound)
}
