package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// eventRow is one stored event. Its ID is read from event_ids on
// PostgreSQL, where the sequencer numbers it after commit; on SQLite it is
// Seq.
type eventRow struct {
	bun.BaseModel `bun:"table:events"`

	Seq        int64          `bun:"seq,pk,autoincrement"`
	ID         sql.NullInt64  `bun:"id,scanonly"`
	Account    string         `bun:"account"`
	OrderID    string         `bun:"order_id"`
	Type       string         `bun:"type"`
	OccurredAt time.Time      `bun:"occurred_at"`
	OrderDoc   string         `bun:"order_doc"`
	Fill       sql.NullString `bun:"fill"`
}

// orderDoc is the JSON form of an order in an event: decimals as strings,
// times in UTC to the microsecond, and what the order's fills add up to
// (FilledQuantity, AverageFillPriceE6 in millionths) instead of the fills
// themselves, which an order filled n times would store n times over.
// Events written before that carry Fills, which give the same sums. It is
// the store's own; clients see the domain's event, mapped by the HTTP
// adapter.
type orderDoc struct {
	ID                string     `json:"id"`
	Account           string     `json:"account"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	Type              string     `json:"type"`
	Side              string     `json:"side"`
	Instrument        string     `json:"instrument"`
	LimitPrice        *string    `json:"limit_price"`
	Quantity          int64      `json:"quantity"`
	Status            string     `json:"status"`
	FilledQuantity    *int64     `json:"filled_quantity,omitempty"`
	AverageFillPrice  *int64     `json:"average_fill_price_e6,omitempty"`
	Fills             []fillDoc  `json:"fills,omitempty"` // events written before the sums
	PlacementAttempts int        `json:"placement_attempts"`
	PlacedAt          *time.Time `json:"placed_at"`
	LastError         string     `json:"last_error"`
}

type fillDoc struct {
	ExecID     string    `json:"exec_id"`
	Quantity   int64     `json:"quantity"`
	Price      string    `json:"price"`
	ExecutedAt time.Time `json:"executed_at"`
}

func utcMicro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func toFillDoc(f domain.Fill) fillDoc {
	return fillDoc{ExecID: f.ExecID, Quantity: f.Quantity, Price: f.Price.String(), ExecutedAt: utcMicro(f.ExecutedAt)}
}

func (f fillDoc) toDomain() (domain.Fill, error) {
	p, err := domain.ParsePrice(f.Price)
	if err != nil {
		return domain.Fill{}, fmt.Errorf("fill %s: price %q: %w", f.ExecID, f.Price, err)
	}
	return domain.Fill{ExecID: f.ExecID, Quantity: f.Quantity, Price: p, ExecutedAt: f.ExecutedAt.UTC()}, nil
}

func toOrderDoc(e domain.OrderEvent) orderDoc {
	o := e.Order
	filled := e.Filled
	d := orderDoc{
		ID: o.ID.String(), Account: string(o.Account), CreatedAt: utcMicro(o.CreatedAt), UpdatedAt: utcMicro(o.UpdatedAt),
		Type: string(o.Type), Side: string(o.Side), Instrument: string(o.Instrument), Quantity: o.Quantity,
		Status: string(o.Status), FilledQuantity: &filled, PlacementAttempts: o.PlacementAttempts,
		LastError: o.LastError,
	}
	if o.LimitPrice != nil {
		s := o.LimitPrice.String()
		d.LimitPrice = &s
	}
	if e.AverageFillPrice != nil {
		avg := int64(*e.AverageFillPrice)
		d.AverageFillPrice = &avg
	}
	if !o.PlacedAt.IsZero() {
		t := utcMicro(o.PlacedAt)
		d.PlacedAt = &t
	}
	return d
}

// toDomain returns the event's order, without fills, and what its fills
// add up to.
func (d *orderDoc) toDomain() (domain.Order, int64, *domain.Decimal, error) {
	o, err := d.order()
	if err != nil {
		return domain.Order{}, 0, nil, err
	}
	if d.FilledQuantity == nil { // written with its fills
		e := domain.NewOrderEvent("", o, nil)
		return e.Order, e.Filled, e.AverageFillPrice, nil
	}
	var avg *domain.Decimal
	if d.AverageFillPrice != nil {
		a := domain.Decimal(*d.AverageFillPrice)
		avg = &a
	}
	return o, *d.FilledQuantity, avg, nil
}

// order returns the order d describes, with the fills of an event written
// before the sums, if any.
func (d *orderDoc) order() (domain.Order, error) {
	id, err := domain.ParseID(d.ID)
	if err != nil {
		return domain.Order{}, fmt.Errorf("order id %q: %w", d.ID, err)
	}
	o := domain.Order{
		ID: id, Account: domain.Account(d.Account), CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
		Type: domain.Type(d.Type), Side: domain.Side(d.Side), Instrument: domain.ISIN(d.Instrument), Quantity: d.Quantity,
		Status: domain.Status(d.Status), PlacementAttempts: d.PlacementAttempts, LastError: d.LastError,
	}
	if d.LimitPrice != nil {
		p, err := domain.ParsePrice(*d.LimitPrice)
		if err != nil {
			return domain.Order{}, fmt.Errorf("order %s: limit price %q: %w", d.ID, *d.LimitPrice, err)
		}
		o.LimitPrice = &p
	}
	for _, f := range d.Fills {
		df, err := f.toDomain()
		if err != nil {
			return domain.Order{}, err
		}
		o.Fills = append(o.Fills, df)
	}
	if d.PlacedAt != nil {
		o.PlacedAt = d.PlacedAt.UTC()
	}
	return o, nil
}

// newEventRow returns the row of event e of order o, o as after the
// change. The change happened when o was last updated.
func newEventRow(o domain.Order, e domain.Event) (eventRow, error) {
	doc, err := json.Marshal(toOrderDoc(domain.NewOrderEvent(e.Type, o, e.Fill)))
	if err != nil {
		return eventRow{}, err
	}
	r := eventRow{
		Account: string(o.Account), OrderID: o.ID.String(), Type: string(e.Type),
		OccurredAt: utcMicro(o.UpdatedAt), OrderDoc: string(doc),
	}
	if e.Fill != nil {
		f, err := json.Marshal(toFillDoc(*e.Fill))
		if err != nil {
			return eventRow{}, err
		}
		r.Fill = sql.NullString{String: string(f), Valid: true}
	}
	return r, nil
}

// eventRows appends the rows of o's events to rows.
func eventRows(rows []eventRow, o domain.Order, events []domain.Event) ([]eventRow, error) {
	for _, e := range events {
		r, err := newEventRow(o, e)
		if err != nil {
			return rows, fmt.Errorf("event %s of order %s: %w", e.Type, o.ID, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func (r *eventRow) toDomain() (domain.OrderEvent, error) {
	var doc orderDoc
	if err := json.Unmarshal([]byte(r.OrderDoc), &doc); err != nil {
		return domain.OrderEvent{}, fmt.Errorf("store: corrupt event %d: %w", r.Seq, err)
	}
	o, filled, avg, err := doc.toDomain()
	if err != nil {
		return domain.OrderEvent{}, fmt.Errorf("store: corrupt event %d: %w", r.Seq, err)
	}
	e := domain.OrderEvent{
		ID: domain.EventID(r.ID.Int64), Account: domain.Account(r.Account), Type: domain.EventType(r.Type),
		OccurredAt: r.OccurredAt.UTC(), Order: o, Filled: filled, AverageFillPrice: avg,
	}
	if r.Fill.Valid {
		var f fillDoc
		if err := json.Unmarshal([]byte(r.Fill.String), &f); err != nil {
			return domain.OrderEvent{}, fmt.Errorf("store: corrupt event %d: %w", r.Seq, err)
		}
		df, err := f.toDomain()
		if err != nil {
			return domain.OrderEvent{}, fmt.Errorf("store: corrupt event %d: %w", r.Seq, err)
		}
		e.Fill = &df
	}
	return e, nil
}

func toOrderEvents(rows []eventRow) ([]domain.OrderEvent, error) {
	out := make([]domain.OrderEvent, 0, len(rows))
	for i := range rows {
		e, err := rows[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// wroteEventsKey marks a write transaction's context; insertEvents sets
// the flag it carries so that writeTx signals readers after the commit.
type wroteEventsKey struct{}

// insertEvents writes events and, for each, one delivery per enabled
// webhook of its account, due at once. On PostgreSQL that is one statement
// over arrays, whatever the number of events; on SQLite one prepared
// statement per event, then one for all their deliveries.
func insertEvents(ctx context.Context, tx bun.Tx, rows []eventRow) error {
	if len(rows) == 0 {
		return nil
	}
	if wrote, ok := ctx.Value(wroteEventsKey{}).(*bool); ok {
		*wrote = true
	}
	if tx.Dialect().Name() == dialect.PG {
		return insertEventsUnnest(ctx, tx, rows)
	}
	return insertEventsPrepared(ctx, tx, rows)
}

const (
	insertEventsUnnestSQL = `WITH ev AS (
		INSERT INTO events (account, order_id, type, occurred_at, order_doc, fill)
		SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])
		RETURNING seq, account, occurred_at),
	pending AS (
		INSERT INTO pending_events (seq, account) SELECT seq, account FROM ev)
	INSERT INTO webhook_deliveries (webhook_id, event_seq, due_at, attempts, enqueued_at)
	SELECT w.id, ev.seq, ev.occurred_at, 0, ev.occurred_at
	FROM ev JOIN webhooks AS w ON w.account = ev.account AND w.disabled_at IS NULL`
	insertEventSQL = `INSERT INTO events (account, order_id, type, occurred_at, order_doc, fill) VALUES (?, ?, ?, ?, ?, ?)`
	// insertDeliveriesSQL writes the deliveries of the events numbered
	// from the first argument to the second. It starts from the enabled
	// webhooks (CROSS JOIN keeps that order in SQLite's planner): with none,
	// as for most accounts, it reads no event at all.
	insertDeliveriesSQL = `INSERT INTO webhook_deliveries (webhook_id, event_seq, due_at, attempts, enqueued_at)
		SELECT w.id, e.seq, e.occurred_at, 0, e.occurred_at
		FROM webhooks AS w CROSS JOIN events AS e ON e.account = w.account AND e.seq BETWEEN ? AND ?
		WHERE w.disabled_at IS NULL`
)

func insertEventsUnnest(ctx context.Context, tx bun.Tx, rows []eventRow) error {
	n := len(rows)
	accounts, orderIDs, types, docs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at, fills := make([]time.Time, n), make([]*string, n)
	for i := range rows {
		r := &rows[i]
		accounts[i], orderIDs[i], types[i], docs[i], at[i] = r.Account, r.OrderID, r.Type, r.OrderDoc, r.OccurredAt
		if r.Fill.Valid {
			fills[i] = &r.Fill.String
		}
	}
	_, err := tx.Tx.ExecContext(ctx, insertEventsUnnestSQL, prepared, accounts, orderIDs, types, at, docs, fills)
	return err
}

func insertEventsPrepared(ctx context.Context, tx bun.Tx, rows []eventRow) error {
	stmt, err := prepareIn(ctx, tx, insertEventSQL)
	if err != nil {
		return err
	}
	defer stmt.Close()
	// One writer: the transaction's events are numbered first..last, with
	// no other event between them.
	var first, last int64
	for i := range rows {
		r := &rows[i]
		res, err := stmt.ExecContext(ctx, r.Account, r.OrderID, r.Type, sqliteTime(r.OccurredAt), r.OrderDoc, r.Fill)
		if err != nil {
			return err
		}
		if last, err = res.LastInsertId(); err != nil {
			return err
		}
		if i == 0 {
			first = last
		}
	}
	deliveries, err := prepareIn(ctx, tx, insertDeliveriesSQL)
	if err != nil {
		return err
	}
	defer deliveries.Close()
	_, err = deliveries.ExecContext(ctx, first, last)
	return err
}

// eventSource is where a dialect reads numbered events from: from, the
// tables, with the event's columns under e; id and account, the columns
// to find them by ID and account in. On PostgreSQL an event is numbered
// once it has a row in event_ids, whose indexes find it by ID; on SQLite
// every event is, and its ID is seq, the rowid, which its indexes hold.
type eventSource struct{ from, id, account string }

var (
	pgEvents     = eventSource{from: "event_ids AS i JOIN events AS e ON e.seq = i.seq", id: "i.id", account: "i.account"}
	sqliteEvents = eventSource{from: "events AS e", id: "e.seq", account: "e.account"}
)

func eventsOf(db bun.IDB) eventSource {
	if db.Dialect().Name() == dialect.SQLite {
		return sqliteEvents
	}
	return pgEvents
}

// selectEvents returns the start of a query of numbered events, up to
// its WHERE, whose rows scan into eventRow.
func (src eventSource) selectEvents() string {
	return "SELECT e.seq, " + src.id + " AS id, e.account, e.order_id, e.type, e.occurred_at, e.order_doc, e.fill FROM " + src.from + " WHERE "
}

// seqOfEvent returns what a query compares event_seq with to find event
// id's deliveries: on SQLite the ID itself.
func seqOfEvent(db bun.IDB, id domain.EventID) any {
	if db.Dialect().Name() == dialect.SQLite {
		return int64(id)
	}
	return db.NewSelect().Table("event_ids").Column("seq").Where("id = ?", int64(id))
}

// sequenceLockKey is the PostgreSQL advisory lock that makes one
// SequenceEvents run at a time in the whole database ("ogevents" in ASCII).
const sequenceLockKey = 0x6f676576656e7473

// sequenceBatch bounds the events one sequencing transaction numbers: a
// backlog (a sequencer stopped for an hour) is numbered in transactions
// of this size, each committed and notified in turn, not in one.
var sequenceBatch = 10_000

// sequenceSQL takes up to sequenceBatch committed events off the pending
// queue, the first written first, and numbers them, in the order they
// were written, from the largest ID given (or purged) on, by appending
// them to event_ids: the event's own row is never rewritten. It runs
// after the lock, as a statement of its own: under READ COMMITTED its
// snapshot then holds everything committed before, the numbers the
// previous sequencer gave included, and the pending rows of transactions
// still open are neither seen nor deleted. Events it leaves for the next
// batch get larger IDs than all of these, as do events committed
// meanwhile: no reader can have seen an ID above them yet.
const sequenceSQL = `WITH top AS (
		SELECT GREATEST((SELECT max(id) FROM event_ids), (SELECT purged_through FROM event_meta), 0) AS n),
	todo AS (
		DELETE FROM pending_events WHERE seq IN (SELECT seq FROM pending_events ORDER BY seq LIMIT ?)
		RETURNING seq, account)
	INSERT INTO event_ids (id, seq, account)
	SELECT top.n + row_number() OVER (ORDER BY todo.seq), todo.seq, todo.account FROM todo, top`

// SequenceEvents gives IDs to the events committed without one (see
// ports.Events), in transactions of up to sequenceBatch events. On
// PostgreSQL each holds a transaction-level advisory lock while it
// numbers them and notifies the channel ordergate_events before
// committing; SQLite events have their IDs already, and it returns 0.
func (d *DB) SequenceEvents(ctx context.Context) (int, error) {
	if d.dialect == SQLite {
		return 0, nil
	}
	total := 0
	for {
		n, err := d.sequenceOnce(ctx)
		total += n
		if err != nil || n < sequenceBatch {
			return total, err
		}
	}
}

// sequenceOnce numbers up to sequenceBatch events in one transaction.
func (d *DB) sequenceOnce(ctx context.Context) (int, error) {
	var n int64
	err := d.bg.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(sequenceLockKey)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, sequenceSQL, sequenceBatch)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		// The payload names the schema, so that databases shared by
		// schemas (tests) wake only their own listeners.
		_, err = tx.ExecContext(ctx, "SELECT pg_notify(?, current_schema())", eventsChannel)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: sequence events: %w", err)
	}
	if n > 0 {
		d.signal.notify()
	}
	return int(n), nil
}

// LastEventID returns the largest event ID given, 0 if none.
func (d *DB) LastEventID(ctx context.Context) (domain.EventID, error) {
	var n int64
	q := `SELECT GREATEST(COALESCE((SELECT max(id) FROM event_ids), 0), (SELECT purged_through FROM event_meta))`
	if d.dialect == SQLite {
		q = `SELECT max(COALESCE((SELECT max(seq) FROM events), 0), (SELECT purged_through FROM event_meta))`
	}
	if err := d.db.NewRaw(q).Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("store: last event id: %w", err)
	}
	return domain.EventID(n), nil
}

// purgedThrough returns the largest event ID purged.
func purgedThrough(ctx context.Context, db bun.IDB) (int64, error) {
	var n int64
	err := db.NewRaw(`SELECT purged_through FROM event_meta`).Scan(ctx, &n)
	return n, err
}

// EventsAfter returns the events after q.After (see ports.Events).
func (d *DB) EventsAfter(ctx context.Context, q ports.EventQuery) ([]domain.OrderEvent, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("store: events limit %d must be at least 1", q.Limit)
	}
	src := eventsOf(d.db)
	query, args := src.selectEvents()+src.id+" > ?", []any{int64(q.After)}
	if q.Account != "" {
		query, args = query+" AND "+src.account+" = ?", append(args, string(q.Account))
	}
	var rows []eventRow
	if err := d.db.NewRaw(query+" ORDER BY "+src.id+" LIMIT ?", append(args, q.Limit)...).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("store: events after %d: %w", q.After, err)
	}
	// Read after the events: a purge that took some of them away between
	// the two shows here.
	if q.After > 0 {
		purged, err := purgedThrough(ctx, d.db)
		if err != nil {
			return nil, fmt.Errorf("store: events after %d: %w", q.After, err)
		}
		if int64(q.After) < purged {
			return nil, fmt.Errorf("store: events after %d, purged through %d: %w", q.After, purged, domain.ErrEventsGone)
		}
	}
	return toOrderEvents(rows)
}

// OrderEvents returns the events of account's order id, oldest first (see
// ports.Events). Events committed but not yet numbered are numbered first.
func (d *DB) OrderEvents(ctx context.Context, account domain.Account, id domain.ID) ([]domain.OrderEvent, error) {
	n, err := d.db.NewSelect().Model((*orderRow)(nil)).Where("id = ?", id.String()).Where("account = ?", string(account)).Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: events of order %s: %w", id, err)
	}
	if n == 0 {
		return nil, orderNotFound(id)
	}
	if d.dialect == Postgres {
		var unsequenced bool
		if err := d.db.NewRaw(`SELECT EXISTS (SELECT 1 FROM events AS e JOIN pending_events AS p ON p.seq = e.seq WHERE e.order_id = ?)`,
			id.String()).Scan(ctx, &unsequenced); err != nil {
			return nil, fmt.Errorf("store: events of order %s: %w", id, err)
		}
		if unsequenced {
			if _, err := d.SequenceEvents(ctx); err != nil {
				return nil, err
			}
		}
	}
	src := eventsOf(d.db)
	var rows []eventRow
	if err := d.db.NewRaw(src.selectEvents()+"e.order_id = ? AND e.account = ? ORDER BY "+src.id,
		id.String(), string(account)).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("store: events of order %s: %w", id, err)
	}
	return toOrderEvents(rows)
}

// purgeBatch bounds the events one purge transaction deletes, so that a
// large purge never holds its locks for long.
const purgeBatch = 1000

// PurgeEvents deletes the numbered events that occurred before t, with
// their deliveries, in batches, and records the largest ID deleted: the
// stream cannot be resumed below it.
func (d *DB) PurgeEvents(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		var n int
		err := d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error {
			src := eventsOf(tx)
			var seqs []int64
			if err := tx.NewRaw("SELECT e.seq FROM "+src.from+" WHERE e.occurred_at < ? ORDER BY e.seq LIMIT ?",
				before.UTC(), purgeBatch).Scan(ctx, &seqs); err != nil {
				return err
			}
			if len(seqs) == 0 {
				return nil
			}
			if _, err := tx.NewDelete().Table("webhook_deliveries").Where("event_seq IN (?)", bun.List(seqs)).Exec(ctx); err != nil {
				return err
			}
			// The IDs come from event_ids on PostgreSQL, from the
			// events themselves (id is seq) on SQLite.
			var ids []int64
			if d.dialect == Postgres {
				if err := tx.NewDelete().Table("event_ids").Where("seq IN (?)", bun.List(seqs)).Returning("id").Scan(ctx, &ids); err != nil {
					return err
				}
				if _, err := tx.NewDelete().Model((*eventRow)(nil)).Where("seq IN (?)", bun.List(seqs)).Exec(ctx); err != nil {
					return err
				}
			} else if err := tx.NewDelete().Model((*eventRow)(nil)).Where("seq IN (?)", bun.List(seqs)).Returning("id").Scan(ctx, &ids); err != nil {
				return err
			}
			top := int64(0)
			for _, id := range ids {
				top = max(top, id)
			}
			n = len(ids)
			_, err := tx.NewUpdate().Table("event_meta").Set("purged_through = ?", top).Where("purged_through < ?", top).Exec(ctx)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("store: purge events: %w", err)
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
	}
}
