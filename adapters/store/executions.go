package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// executionRow is one execution report applied to an order; the fills of
// an order are its rows of kind partial_fill and fill.
type executionRow struct {
	bun.BaseModel `bun:"table:executions"`

	ExecID     string         `bun:"exec_id,pk"`
	OrderID    string         `bun:"order_id"`
	Session    string         `bun:"session"`
	Seq        int64          `bun:"seq"`
	Kind       string         `bun:"kind"`
	Quantity   int64          `bun:"quantity"`
	PriceCents sql.NullInt64  `bun:"price_cents"`
	ExecutedAt time.Time      `bun:"executed_at"`
	Reason     sql.NullString `bun:"reason"`
}

func (e *executionRow) fill() domain.Fill {
	return domain.Fill{
		ExecID:     e.ExecID,
		Quantity:   e.Quantity,
		Price:      domain.PriceFromCents(e.PriceCents.Int64),
		ExecutedAt: e.ExecutedAt.UTC(),
	}
}

// unknownRow is a report about an order this database does not hold (or
// one the order's lifecycle refuses), kept aside for operators.
type unknownRow struct {
	bun.BaseModel `bun:"table:unknown_reports"`

	Session    string    `bun:"session,pk"`
	Seq        int64     `bun:"seq,pk"`
	ExecID     string    `bun:"exec_id"`
	OrderID    string    `bun:"order_id"`
	Kind       string    `bun:"kind"`
	Report     string    `bun:"report"`
	ReceivedAt time.Time `bun:"received_at"`
}

// positionRow is how far a venue session's feed has been applied.
type positionRow struct {
	bun.BaseModel `bun:"table:feed_positions"`

	Session   string    `bun:"session,pk"`
	LastSeq   int64     `bun:"last_seq"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// FeedPosition returns the last applied sequence number of session, or
// for "" the session applied last with its number; 0 when none was.
func (d *DB) FeedPosition(ctx context.Context, session string) (string, int64, error) {
	var p positionRow
	q := d.bg.NewSelect().Model(&p)
	if session == "" {
		q = q.OrderExpr("updated_at DESC, last_seq DESC").Limit(1)
	} else {
		q = q.Where("session = ?", session)
	}
	err := q.Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return session, 0, nil
	case err != nil:
		return "", 0, fmt.Errorf("store: feed position: %w", err)
	}
	return p.Session, p.LastSeq, nil
}

// ApplyReports applies a batch of the feed's reports in one transaction
// (see ports.Executions), fenced by the session's position. Once started
// it runs to the end whatever becomes of ctx, and after a failure whose
// outcome is unknown it tries again: a batch applied already fails the
// fence the second time, and the position then says it was applied.
func (d *DB) ApplyReports(ctx context.Context, b ports.Batch) (ports.Applied, error) {
	if len(b.Reports) == 0 {
		return ports.Applied{}, nil
	}
	if err := ctx.Err(); err != nil {
		return ports.Applied{}, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	var applied ports.Applied
	attempt := func() error {
		return d.writeTx(ctx, background, func(ctx context.Context, tx bun.Tx) error {
			var err error
			applied, err = applyIn(ctx, tx, b)
			return err
		})
	}
	err := onceOr(attempt, domain.ErrLeaseLost, func() bool {
		// The first attempt committed if the position is now the batch's end.
		_, seq, perr := d.FeedPosition(ctx, b.Session)
		return perr == nil && seq == b.Reports[len(b.Reports)-1].Seq
	})
	if err != nil {
		return ports.Applied{}, fmt.Errorf("store: apply reports %d to %d of session %s: %w", b.After+1, b.After+int64(len(b.Reports)), b.Session, err)
	}
	return applied, nil
}

func applyIn(ctx context.Context, tx bun.Tx, b ports.Batch) (ports.Applied, error) {
	applied := ports.Applied{Kinds: map[domain.ReportKind]int{}}
	last := b.Reports[len(b.Reports)-1].Seq
	// The fence: the position must be where this batch starts. The row is
	// locked until the commit, so a second ingester's batch waits, then
	// fails the fence.
	if b.After == 0 {
		// A session's first batch creates its row; a second ingester's
		// first batch then fails the fence below like any other.
		if _, err := tx.NewInsert().Model(&positionRow{Session: b.Session, LastSeq: 0, UpdatedAt: b.At.UTC()}).
			On("CONFLICT (session) DO NOTHING").Exec(ctx); err != nil {
			return applied, err
		}
	}
	if err := fencePosition(ctx, tx, b, last); err != nil {
		return applied, err
	}

	ids := make([]string, 0, len(b.Reports))
	execIDs := make([]string, 0, len(b.Reports))
	for _, r := range b.Reports {
		ids = append(ids, r.OrderID.String())
		execIDs = append(execIDs, r.ExecID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	orders, err := readOrdersForApply(ctx, tx, ids)
	if err != nil {
		return applied, err
	}
	var seen []string
	if err := tx.NewSelect().Model((*executionRow)(nil)).Column("exec_id").Where("exec_id IN (?)", bun.List(execIDs)).Scan(ctx, &seen); err != nil {
		return applied, err
	}
	done := make(map[string]bool, len(b.Reports))
	for _, e := range seen {
		done[e] = true
	}
	before := maps.Clone(orders)
	execs := make([]executionRow, 0, len(b.Reports))
	var aside []unknownRow
	var events []eventRow
	for _, r := range b.Reports {
		if done[r.ExecID] {
			applied.Duplicates++
			continue
		}
		o, ok := orders[r.OrderID.String()]
		if !ok {
			aside = append(aside, keepAside(b, r, "unknown order"))
			applied.Unknown++
			continue
		}
		n, evs, err := domain.Apply(o, r)
		if err != nil {
			// The lifecycle refuses it (a fill past the quantity): kept
			// aside like a report about an unknown order, never dropped.
			aside = append(aside, keepAside(b, r, err.Error()))
			applied.Unknown++
			continue
		}
		// Each event carries the order as after its own report.
		if events, err = eventRows(events, n, evs); err != nil {
			return applied, err
		}
		orders[r.OrderID.String()] = n
		done[r.ExecID] = true
		execs = append(execs, toExecutionRow(b.Session, r))
		applied.Kinds[r.Kind]++
	}
	if err := insertExecutions(ctx, tx, execs); err != nil {
		return applied, err
	}
	if err := updateOrders(ctx, tx, changedOrders(before, orders)); err != nil {
		return applied, err
	}
	if err := insertEvents(ctx, tx, events); err != nil {
		return applied, err
	}
	if len(aside) > 0 {
		if _, err := tx.NewInsert().Model(&aside).On("CONFLICT (session, seq) DO NOTHING").Exec(ctx); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// fencePosition moves the session's position from b.After to last, or
// fails with ErrLeaseLost if it is not at b.After.
func fencePosition(ctx context.Context, tx bun.Tx, b ports.Batch, last int64) error {
	res, err := tx.NewUpdate().Model((*positionRow)(nil)).
		Set("last_seq = ?", last).Set("updated_at = ?", b.At.UTC()).
		Where("session = ?", b.Session).Where("last_seq = ?", b.After).
		Exec(ctx)
	return leaseHeld(res, err)
}

func toExecutionRow(session string, r domain.Report) executionRow {
	e := executionRow{
		ExecID: r.ExecID, OrderID: r.OrderID.String(), Session: session, Seq: r.Seq,
		Kind: string(r.Kind), Quantity: r.LastQty, ExecutedAt: r.At.UTC(),
		Reason: sql.NullString{String: r.Reason, Valid: r.Reason != ""},
	}
	if r.LastPrice > 0 {
		e.PriceCents = sql.NullInt64{Int64: r.LastPrice.Cents(), Valid: true}
	}
	return e
}

func keepAside(b ports.Batch, r domain.Report, why string) unknownRow {
	doc, _ := json.Marshal(map[string]any{
		"seq": r.Seq, "exec_id": r.ExecID, "order_id": r.OrderID.String(), "kind": r.Kind,
		"last_qty": r.LastQty, "last_price": r.LastPrice.String(), "cum_qty": r.CumQty, "leaves_qty": r.LeavesQty,
		"at": r.At, "reason": r.Reason, "kept_aside_because": why,
	})
	return unknownRow{Session: b.Session, Seq: r.Seq, ExecID: r.ExecID, OrderID: r.OrderID.String(), Kind: string(r.Kind), Report: string(doc), ReceivedAt: b.At.UTC()}
}

// On PostgreSQL a batch's executions go as arrays into one statement whose
// text never changes; on SQLite through one prepared statement per row.
const (
	insertExecutionsUnnestSQL = `INSERT INTO executions (exec_id, order_id, session, seq, kind, quantity, price_cents, executed_at, reason)
		SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::timestamptz[], $9::text[])`
	insertExecutionSQL = `INSERT INTO executions (exec_id, order_id, session, seq, kind, quantity, price_cents, executed_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

func insertExecutions(ctx context.Context, tx bun.Tx, rows []executionRow) error {
	if len(rows) == 0 {
		return nil
	}
	if tx.Dialect().Name() == dialect.PG {
		n := len(rows)
		execIDs, orderIDs, sessions, kinds := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seqs, qtys, prices := make([]int64, n), make([]int64, n), make([]*int64, n)
		at, reasons := make([]time.Time, n), make([]*string, n)
		for i := range rows {
			r := &rows[i]
			execIDs[i], orderIDs[i], sessions[i], kinds[i] = r.ExecID, r.OrderID, r.Session, r.Kind
			seqs[i], qtys[i], at[i] = r.Seq, r.Quantity, r.ExecutedAt
			if r.PriceCents.Valid {
				prices[i] = &r.PriceCents.Int64
			}
			if r.Reason.Valid {
				reasons[i] = &r.Reason.String
			}
		}
		_, err := tx.Tx.ExecContext(ctx, insertExecutionsUnnestSQL, prepared, execIDs, orderIDs, sessions, seqs, kinds, qtys, prices, at, reasons)
		return err
	}
	stmt, err := prepareIn(ctx, tx, insertExecutionSQL)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range rows {
		r := &rows[i]
		if _, err := stmt.ExecContext(ctx, r.ExecID, r.OrderID, r.Session, r.Seq, r.Kind, r.Quantity, r.PriceCents, sqliteTime(r.ExecutedAt), r.Reason); err != nil {
			return err
		}
	}
	return nil
}
