package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// orderRow is the orders table as the adapter sees it; it never leaves the
// package.
type orderRow struct {
	bun.BaseModel `bun:"table:orders"`

	ID                string         `bun:"id,pk"`
	Account           string         `bun:"account"`
	CreatedAt         time.Time      `bun:"created_at"`
	UpdatedAt         time.Time      `bun:"updated_at"`
	Type              string         `bun:"type"`
	Side              string         `bun:"side"`
	Instrument        string         `bun:"instrument"`
	LimitPriceCents   sql.NullInt64  `bun:"limit_price_cents"`
	Quantity          int64          `bun:"quantity"`
	Status            string         `bun:"status"`
	FilledQuantity    int64          `bun:"filled_quantity"`
	PlacementAttempts int            `bun:"placement_attempts"`
	PlacedAt          sql.NullTime   `bun:"placed_at"`
	LastError         sql.NullString `bun:"last_error"`
}

func toRow(o domain.Order) *orderRow {
	r := &orderRow{
		ID:                o.ID.String(),
		Account:           string(o.Account),
		CreatedAt:         o.CreatedAt.UTC(),
		UpdatedAt:         o.UpdatedAt.UTC(),
		Type:              string(o.Type),
		Side:              string(o.Side),
		Instrument:        string(o.Instrument),
		Quantity:          o.Quantity,
		Status:            string(o.Status),
		FilledQuantity:    o.FilledQuantity(),
		PlacementAttempts: o.PlacementAttempts,
		LastError:         sql.NullString{String: o.LastError, Valid: o.LastError != ""},
	}
	if o.LimitPrice != nil {
		r.LimitPriceCents = sql.NullInt64{Int64: o.LimitPrice.Cents(), Valid: true}
	}
	if !o.PlacedAt.IsZero() {
		r.PlacedAt = sql.NullTime{Time: o.PlacedAt.UTC(), Valid: true}
	}
	return r
}

// toDomain returns the order r holds with fills, which must be all of its
// fills, oldest first.
func (r *orderRow) toDomain(fills []domain.Fill) (domain.Order, error) {
	id, err := domain.ParseID(r.ID)
	if err != nil {
		return domain.Order{}, fmt.Errorf("store: corrupt order id %q: %w", r.ID, err)
	}
	o := domain.Order{
		ID:                id,
		Account:           domain.Account(r.Account),
		CreatedAt:         r.CreatedAt.UTC(),
		UpdatedAt:         r.UpdatedAt.UTC(),
		Type:              domain.Type(r.Type),
		Side:              domain.Side(r.Side),
		Instrument:        domain.ISIN(r.Instrument),
		Quantity:          r.Quantity,
		Status:            domain.Status(r.Status),
		Fills:             fills,
		PlacementAttempts: r.PlacementAttempts,
		LastError:         r.LastError.String,
	}
	if got := o.FilledQuantity(); got != r.FilledQuantity {
		return domain.Order{}, fmt.Errorf("store: order %s: filled quantity %d but its fills add up to %d", r.ID, r.FilledQuantity, got)
	}
	if r.LimitPriceCents.Valid {
		p := domain.PriceFromCents(r.LimitPriceCents.Int64)
		o.LimitPrice = &p
	}
	if r.PlacedAt.Valid {
		o.PlacedAt = r.PlacedAt.Time.UTC()
	}
	return o, nil
}

// Create stores o and its placement job, due at once, in one transaction.
// It returns an error wrapping domain.ErrConflict if o.ID is already stored.
// Concurrent calls share transactions (group commit); each returns only
// once its order is committed, with its own error.
func (d *DB) Create(ctx context.Context, o domain.Order) error {
	if o.Account == "" {
		return fmt.Errorf("store: order %s has no account: %w", o.ID, domain.ErrInvalid)
	}
	c, err := newCreation(o)
	if err != nil {
		return fmt.Errorf("store: create order %s: %w", o.ID, err)
	}
	if err := d.creates.do(ctx, c); err != nil {
		if errors.Is(err, domain.ErrConflict) || errors.Is(err, errClosed) {
			return err
		}
		return fmt.Errorf("store: create order %s: %w", o.ID, err)
	}
	return nil
}

// Order returns the order with the given ID, or an error wrapping
// domain.ErrNotFound.
func (d *DB) Order(ctx context.Context, account domain.Account, id domain.ID) (domain.Order, error) {
	orders, err := snapshot(ctx, d.db, d.db.NewSelect().Model((*orderRow)(nil)).Where("id = ?", id.String()).Where("account = ?", string(account)), "")
	if err != nil {
		return domain.Order{}, fmt.Errorf("store: read order %s: %w", id, err)
	}
	if len(orders) == 0 {
		return domain.Order{}, orderNotFound(id)
	}
	return orders[0], nil
}

// List returns orders newest first as q selects them.
func (d *DB) List(ctx context.Context, q ports.ListQuery) ([]domain.Order, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("store: list limit %d must be at least 1", q.Limit)
	}
	sel := d.db.NewSelect().Model((*orderRow)(nil)).Where("account = ?", string(q.Account)).OrderExpr("id DESC").Limit(int64(q.Limit))
	if !q.Before.IsZero() {
		sel = sel.Where("id < ?", q.Before.String())
	}
	if q.Status != "" {
		sel = sel.Where("status = ?", string(q.Status))
	}
	orders, err := snapshot(ctx, d.db, sel, "o.id DESC")
	if err != nil {
		return nil, fmt.Errorf("store: list orders: %w", err)
	}
	return orders, nil
}

// orderWithFill is one row of snapshot's join: an order and one of its
// fills, or none.
type orderWithFill struct {
	orderRow `bun:",extend"`

	FExecID     sql.NullString `bun:"f_exec_id"`
	FQuantity   sql.NullInt64  `bun:"f_quantity"`
	FPriceCents sql.NullInt64  `bun:"f_price_cents"`
	FExecutedAt sql.NullTime   `bun:"f_executed_at"`
}

// snapshot returns the orders sel selects, each with its fills, in sel's
// order (orderBy, over the alias o). One statement reads both, so they
// come from one snapshot: read apart, outside a transaction that locks the
// orders, a batch of fills committed in between would leave an order's
// filled quantity behind its fills.
func snapshot(ctx context.Context, db bun.IDB, sel *bun.SelectQuery, orderBy string) ([]domain.Order, error) {
	q := db.NewSelect().TableExpr("(?) AS o", sel).ColumnExpr("o.*").
		ColumnExpr("e.exec_id AS f_exec_id, e.quantity AS f_quantity, e.price_cents AS f_price_cents, e.executed_at AS f_executed_at").
		Join("LEFT JOIN executions AS e ON e.order_id = o.id AND e.kind IN (?)",
			bun.List([]string{string(domain.ReportPartialFill), string(domain.ReportFill)}))
	if orderBy != "" {
		q = q.OrderExpr(orderBy)
	}
	var rows []orderWithFill
	if err := q.OrderExpr("o.id, e.executed_at, e.seq").Scan(ctx, &rows); err != nil {
		return nil, err
	}
	var out []domain.Order
	var row *orderRow
	var fills []domain.Fill
	flush := func() error {
		if row == nil {
			return nil
		}
		o, err := row.toDomain(fills)
		if err != nil {
			return err
		}
		out = append(out, o)
		return nil
	}
	for i := range rows {
		r := &rows[i]
		if row == nil || r.ID != row.ID {
			if err := flush(); err != nil {
				return nil, err
			}
			row, fills = &r.orderRow, nil
		}
		if r.FExecID.Valid {
			fills = append(fills, domain.Fill{
				ExecID: r.FExecID.String, Quantity: r.FQuantity.Int64,
				Price: domain.PriceFromCents(r.FPriceCents.Int64), ExecutedAt: r.FExecutedAt.Time.UTC(),
			})
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if out == nil {
		out = []domain.Order{}
	}
	return out, nil
}

// withFills returns the orders rows hold, each with its fills, read in one
// query.
func withFills(ctx context.Context, db bun.IDB, rows []orderRow) ([]domain.Order, error) {
	if len(rows) == 0 {
		return []domain.Order{}, nil
	}
	ids := make([]string, 0, len(rows))
	for i := range rows {
		if rows[i].FilledQuantity > 0 {
			ids = append(ids, rows[i].ID)
		}
	}
	fills := map[string][]domain.Fill{}
	if len(ids) > 0 {
		var execs []executionRow
		if err := db.NewSelect().Model(&execs).
			Where("order_id IN (?)", bun.List(ids)).
			Where("kind IN (?)", bun.List([]string{string(domain.ReportPartialFill), string(domain.ReportFill)})).
			OrderExpr("order_id, executed_at, seq").
			Scan(ctx); err != nil {
			return nil, err
		}
		for _, e := range execs {
			fills[e.OrderID] = append(fills[e.OrderID], e.fill())
		}
	}
	out := make([]domain.Order, 0, len(rows))
	for i := range rows {
		o, err := rows[i].toDomain(fills[rows[i].ID])
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// insertWithJobs inserts orders and a placement job for each, due when the
// order was created. On PostgreSQL that is one statement per table over
// arrays. On SQLite it is one prepared single-row statement per table, run
// once per order: the pure-Go SQLite pays for parsing a large statement
// afresh each time (bun does not prepare) and for unmapping the memory it
// took, which profiles showed as the largest single cost of a POST.
func insertWithJobs(ctx context.Context, tx bun.Tx, rows ...*orderRow) error {
	if tx.Dialect().Name() == dialect.SQLite {
		return insertWithJobsPrepared(ctx, tx, rows)
	}
	return insertWithJobsUnnest(ctx, tx, rows)
}

// On PostgreSQL the whole batch goes as arrays, one per column, into two
// statements whose text never changes, so pgx prepares each once per
// connection and PostgreSQL plans it once, whatever the batch size.
const (
	insertOrdersUnnestSQL = `INSERT INTO orders (id, account, created_at, updated_at, type, side, instrument, limit_price_cents, quantity, status, placement_attempts, placed_at, last_error)
		SELECT id, account, created, created, type, side, instrument, price, quantity, status, attempts, placed_at, last_error
		FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[], $10::integer[], $11::timestamptz[], $12::text[])
			AS t(id, account, created, type, side, instrument, price, quantity, status, attempts, placed_at, last_error)`
	insertJobsUnnestSQL = `INSERT INTO jobs (order_id, kind, due_at) SELECT id, 'place', due FROM unnest($1::uuid[], $2::timestamptz[]) AS t(id, due)`
)

func insertWithJobsUnnest(ctx context.Context, tx bun.Tx, rows []*orderRow) error {
	n := len(rows)
	ids, accounts, created := make([]string, n), make([]string, n), make([]time.Time, n)
	types, sides, instruments, statuses := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	prices, quantities, attempts := make([]*int64, n), make([]int64, n), make([]int32, n)
	placedAt, lastErrors := make([]*time.Time, n), make([]*string, n)
	for i, r := range rows {
		ids[i], accounts[i], created[i] = r.ID, r.Account, r.CreatedAt
		types[i], sides[i], instruments[i], statuses[i] = r.Type, r.Side, r.Instrument, r.Status
		quantities[i], attempts[i] = r.Quantity, int32(r.PlacementAttempts) //nolint:gosec // G115: attempts of a new order, 0
		if r.LimitPriceCents.Valid {
			prices[i] = &r.LimitPriceCents.Int64
		}
		if r.PlacedAt.Valid {
			placedAt[i] = &r.PlacedAt.Time
		}
		if r.LastError.Valid {
			lastErrors[i] = &r.LastError.String
		}
	}
	if _, err := tx.Tx.ExecContext(ctx, insertOrdersUnnestSQL, prepared, ids, accounts, created, types, sides, instruments, prices, quantities, statuses, attempts, placedAt, lastErrors); err != nil {
		return err
	}
	_, err := tx.Tx.ExecContext(ctx, insertJobsUnnestSQL, prepared, ids, created)
	return err
}

const (
	insertOrderSQL = `INSERT INTO orders (id, account, created_at, updated_at, type, side, instrument, limit_price_cents, quantity, status, placement_attempts, placed_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertJobSQL   = `INSERT INTO jobs (order_id, kind, due_at, attempts, lease_owner) VALUES (?, 'place', ?, 0, NULL)`
)

// sqliteTime formats t exactly as bun writes times to SQLite, so that rows
// written here compare and read back like rows bun wrote.
func sqliteTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.999999-07:00")
}

func insertWithJobsPrepared(ctx context.Context, tx bun.Tx, rows []*orderRow) error {
	orders, err := prepareIn(ctx, tx, insertOrderSQL)
	if err != nil {
		return err
	}
	defer orders.Close()
	jobs, err := prepareIn(ctx, tx, insertJobSQL)
	if err != nil {
		return err
	}
	defer jobs.Close()
	for _, r := range rows {
		var placedAt any
		if r.PlacedAt.Valid {
			placedAt = sqliteTime(r.PlacedAt.Time)
		}
		created := sqliteTime(r.CreatedAt)
		if _, err := orders.ExecContext(ctx, r.ID, r.Account, created, created, r.Type, r.Side, r.Instrument, r.LimitPriceCents,
			r.Quantity, r.Status, r.PlacementAttempts, placedAt, r.LastError); err != nil {
			return err
		}
		if _, err := jobs.ExecContext(ctx, r.ID, created); err != nil {
			return err
		}
	}
	return nil
}

// creation is one Create waiting for its group commit: the order's row
// and its order.created event.
type creation struct {
	row   *orderRow
	event eventRow
}

func newCreation(o domain.Order) (creation, error) {
	ev, err := newEventRow(o, domain.Event{Type: domain.EventCreated})
	if err != nil {
		return creation{}, err
	}
	ev.OccurredAt = utcMicro(o.CreatedAt)
	return creation{row: toRow(o), event: ev}, nil
}

// insertCreations writes new orders with their jobs and their
// order.created events.
func insertCreations(ctx context.Context, tx bun.Tx, cs ...creation) error {
	rows := make([]*orderRow, len(cs))
	events := make([]eventRow, len(cs))
	for i, c := range cs {
		rows[i], events[i] = c.row, c.event
	}
	if err := insertWithJobs(ctx, tx, rows...); err != nil {
		return err
	}
	return insertEvents(ctx, tx, events)
}

func (d *DB) createAll(ctx context.Context, cs []creation) error {
	return d.writeTx(ctx, intake, func(ctx context.Context, tx bun.Tx) error {
		return insertCreations(ctx, tx, cs...)
	})
}

// createOne writes one order and its job in a transaction of their own.
//
// An attempt that fails may have committed all the same: when the
// connection drops during COMMIT the client cannot tell. So a failed
// attempt is followed by one more, which settles the question on a fresh
// connection. On PostgreSQL its insert waits on the primary key behind the
// first transaction if the server is still committing it; either way it
// then writes the order or finds it stored. An order found stored with
// exactly the fields of ours is ours: Create succeeds.
func (d *DB) createOne(ctx context.Context, c creation) error {
	row := c.row
	insert := func() error {
		return d.writeTx(ctx, intake, func(ctx context.Context, tx bun.Tx) error {
			return insertCreations(ctx, tx, c)
		})
	}
	err := insert()
	if err != nil && !isUniqueViolation(err) {
		err = insert()
	}
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return d.stored(ctx, row)
	default:
		return fmt.Errorf("store: create order %s: %w", row.ID, err)
	}
}

// stored checks that the order stored under row's ID is the one row
// describes: nil if it is, an error wrapping domain.ErrConflict if another
// order holds the ID.
func (d *DB) stored(ctx context.Context, row *orderRow) error {
	var got orderRow
	if err := d.db.NewSelect().Model(&got).Where("id = ?", row.ID).Scan(ctx); err != nil {
		return fmt.Errorf("store: read back order %s: %w", row.ID, err)
	}
	if !sameRequest(&got, row) {
		return fmt.Errorf("store: order %s: %w", row.ID, domain.ErrConflict)
	}
	return nil
}

// sameRequest reports whether two rows record the same accepted order.
func sameRequest(a, b *orderRow) bool {
	return a.ID == b.ID && a.Account == b.Account && a.CreatedAt.Equal(b.CreatedAt) && a.Type == b.Type && a.Side == b.Side &&
		a.Instrument == b.Instrument && a.LimitPriceCents == b.LimitPriceCents && a.Quantity == b.Quantity
}

// readOrders returns the orders with the given IDs, with their fills, by
// ID; missing ones are left out. With lock, they are locked for the
// transaction (in ID order, the order every transaction here locks them
// in); SQLite needs no row locks, its writers taking turns.
func readOrders(ctx context.Context, db bun.IDB, ids []string, lock bool) (map[string]domain.Order, error) {
	var orders []domain.Order
	if lock {
		// The orders' locks keep their fills still too: fills are written
		// only by transactions that lock their order first.
		rows, err := lockedOrderRows(ctx, db, ids)
		if err != nil {
			return nil, err
		}
		if orders, err = withFills(ctx, db, rows); err != nil {
			return nil, err
		}
	} else {
		var err error
		orders, err = snapshot(ctx, db, db.NewSelect().Model((*orderRow)(nil)).Where("id IN (?)", bun.List(ids)), "")
		if err != nil {
			return nil, err
		}
	}
	byID := make(map[string]domain.Order, len(orders))
	for _, o := range orders {
		byID[o.ID.String()] = o
	}
	return byID, nil
}

// readOrdersForApply is readOrders, locked, for ApplyReports, which needs
// what an order's fills add up to, not the fills themselves: each order
// comes with its fills summed into at most two (domain.FillTotals.Equivalent), read as bare
// quantities and prices. Reading and decoding every fill of every order of
// a batch made a report cost O(fills of its order): half the time of
// BenchmarkApplyReportsSQLite at 60 fills an order. The exchange's
// duplicates are caught before Apply, by the executions' exec IDs. These
// orders never leave the store.
func readOrdersForApply(ctx context.Context, tx bun.Tx, ids []string) (map[string]domain.Order, error) {
	rows, err := lockedOrderRows(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	var filled []string
	for i := range rows {
		if rows[i].FilledQuantity > 0 {
			filled = append(filled, rows[i].ID)
		}
	}
	sums := map[string]*domain.FillTotals{}
	if len(filled) > 0 {
		res, err := tx.QueryContext(ctx, "SELECT order_id, quantity, price_cents FROM executions WHERE order_id IN (?) AND kind IN (?, ?)",
			bun.List(filled), string(domain.ReportPartialFill), string(domain.ReportFill))
		if err != nil {
			return nil, err
		}
		defer res.Close()
		for res.Next() {
			var id string
			var qty, cents int64
			if err := res.Scan(&id, &qty, &cents); err != nil {
				return nil, err
			}
			s := sums[id]
			if s == nil {
				s = &domain.FillTotals{}
				sums[id] = s
			}
			s.Add(qty, domain.PriceFromCents(cents))
		}
		if err := res.Err(); err != nil {
			return nil, err
		}
	}
	byID := make(map[string]domain.Order, len(rows))
	for i := range rows {
		var fills []domain.Fill
		if s := sums[rows[i].ID]; s != nil {
			var ok bool
			if fills, ok = s.Equivalent(); !ok {
				return nil, fmt.Errorf("store: order %s: its fills add up to no valid price", rows[i].ID)
			}
		}
		o, err := rows[i].toDomain(fills)
		if err != nil {
			return nil, err
		}
		byID[rows[i].ID] = o
	}
	return byID, nil
}

// lockedOrderRows reads the rows of the orders ids names, in ID order,
// locked until the transaction ends on PostgreSQL (SQLite's one writer
// holds them all).
func lockedOrderRows(ctx context.Context, db bun.IDB, ids []string) ([]orderRow, error) {
	var rows []orderRow
	q := db.NewSelect().Model(&rows).Where("id IN (?)", bun.List(ids)).OrderExpr("id")
	if db.Dialect().Name() == dialect.PG {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, err
	}
	return rows, nil
}

// changedOrders returns the orders of after whose stored state differs
// from before's, in ID order.
func changedOrders(before, after map[string]domain.Order) []domain.Order {
	var out []domain.Order
	for id, n := range after {
		if o, ok := before[id]; !ok || !sameState(o, n) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b domain.Order) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	return out
}

// sameState reports whether a and b store the same mutable columns; fills
// are stored as executions, on their own.
func sameState(a, b domain.Order) bool {
	return a.Status == b.Status && a.UpdatedAt.Equal(b.UpdatedAt) && a.FilledQuantity() == b.FilledQuantity() &&
		a.PlacementAttempts == b.PlacementAttempts && a.PlacedAt.Equal(b.PlacedAt) && a.LastError == b.LastError
}

// On PostgreSQL changed orders are written as arrays, one per column, by one
// statement whose text never changes.
const updateOrdersUnnestSQL = `UPDATE orders AS o SET status = u.status, updated_at = u.updated_at,
	filled_quantity = u.filled_quantity, placement_attempts = u.placement_attempts, placed_at = u.placed_at, last_error = u.last_error
	FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::bigint[], $5::integer[], $6::timestamptz[], $7::text[])
		AS u(id, status, updated_at, filled_quantity, placement_attempts, placed_at, last_error)
	WHERE o.id = u.id`

const updateOrderSQL = `UPDATE orders SET status = ?, updated_at = ?, filled_quantity = ?, placement_attempts = ?, placed_at = ?, last_error = ? WHERE id = ?`

// updateOrders writes the mutable columns of orders (each order once).
func updateOrders(ctx context.Context, tx bun.Tx, orders []domain.Order) error {
	if len(orders) == 0 {
		return nil
	}
	if tx.Dialect().Name() == dialect.PG {
		n := len(orders)
		ids, statuses, lastErrors := make([]string, n), make([]string, n), make([]*string, n)
		updated, placedAt := make([]time.Time, n), make([]*time.Time, n)
		filled, attempts := make([]int64, n), make([]int32, n)
		for i, o := range orders {
			r := toRow(o)
			ids[i], statuses[i], updated[i] = r.ID, r.Status, r.UpdatedAt
			filled[i], attempts[i] = r.FilledQuantity, int32(min(r.PlacementAttempts, 1<<31-1)) //nolint:gosec // G115: clamped
			if r.PlacedAt.Valid {
				placedAt[i] = &r.PlacedAt.Time
			}
			if r.LastError.Valid {
				lastErrors[i] = &r.LastError.String
			}
		}
		_, err := tx.Tx.ExecContext(ctx, updateOrdersUnnestSQL, prepared, ids, statuses, updated, filled, attempts, placedAt, lastErrors)
		return err
	}
	stmt, err := prepareIn(ctx, tx, updateOrderSQL)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, o := range orders {
		r := toRow(o)
		var placedAt any
		if r.PlacedAt.Valid {
			placedAt = sqliteTime(r.PlacedAt.Time)
		}
		if _, err := stmt.ExecContext(ctx, r.Status, sqliteTime(r.UpdatedAt), r.FilledQuantity, r.PlacementAttempts, placedAt, r.LastError, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// Cancel applies a client's cancel request to the stored order (see
// ports.Orders). Like every write here it runs to the end once started, and
// tries again after a failure whose outcome is unknown: applying a cancel
// request twice changes nothing the second time.
func (d *DB) Cancel(ctx context.Context, account domain.Account, id domain.ID, apply ports.CancelFunc) (domain.Order, error) {
	if err := ctx.Err(); err != nil {
		return domain.Order{}, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	var out domain.Order
	err := once(func() error {
		return d.writeTx(ctx, intake, func(ctx context.Context, tx bun.Tx) error {
			var err error
			out, err = cancelIn(ctx, tx, account, id, apply)
			return err
		})
	})
	if err != nil {
		return domain.Order{}, fmt.Errorf("store: cancel order %s: %w", id, err)
	}
	return out, nil
}

func cancelIn(ctx context.Context, tx bun.Tx, account domain.Account, id domain.ID, apply ports.CancelFunc) (domain.Order, error) {
	orders, err := readOrders(ctx, tx, []string{id.String()}, true)
	if err != nil {
		return domain.Order{}, err
	}
	o, ok := orders[id.String()]
	if !ok || o.Account != account {
		return domain.Order{}, orderNotFound(id)
	}
	// A placement job never claimed was never sent; once claimed, the call
	// may have reached the exchange whatever became of it. The job is
	// locked (after its order, as everywhere) so that a claim committing
	// now is waited for and counted: read without the lock, a job claimed
	// this very moment would look unsent, and the order would be canceled
	// here while its placement goes out.
	var place jobRow
	q := tx.NewSelect().Model(&place).Where("order_id = ?", id.String()).Where("kind = ?", string(ports.JobPlace))
	if tx.Dialect().Name() == dialect.PG {
		q = q.For("UPDATE")
	}
	err = q.Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return domain.Order{}, err
	}
	sent := errors.Is(err, sql.ErrNoRows) || place.Attempts > 0
	n, events, err := apply(o, sent)
	if err != nil {
		return domain.Order{}, err
	}
	if sameState(o, n) {
		return n, nil // asked again: nothing changes
	}
	if err := updateOrders(ctx, tx, []domain.Order{n}); err != nil {
		return domain.Order{}, err
	}
	rows, err := eventRows(nil, n, events)
	if err != nil {
		return domain.Order{}, err
	}
	if err := insertEvents(ctx, tx, rows); err != nil {
		return domain.Order{}, err
	}
	switch {
	case n.Status == domain.Canceled && o.Status == domain.Pending:
		// Canceled without the exchange: it must never be placed.
		return n, deleteJob(ctx, tx, id.String(), ports.JobPlace)
	case n.Status == domain.PendingCancel:
		job := &jobRow{OrderID: id.String(), Kind: string(ports.JobCancel)}
		if !n.PlacedAt.IsZero() {
			// Acknowledged already: the request may go out at once.
			job.DueAt = sql.NullTime{Time: n.UpdatedAt.UTC(), Valid: true}
		}
		_, err := tx.NewInsert().Model(job).On("CONFLICT (order_id, kind) DO NOTHING").Exec(ctx)
		return n, err
	}
	return n, nil
}
