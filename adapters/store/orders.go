package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// orderRow is the orders table as the adapter sees it; it never leaves the
// package.
type orderRow struct {
	bun.BaseModel `bun:"table:orders"`

	ID                string         `bun:"id,pk"`
	CreatedAt         time.Time      `bun:"created_at"`
	Type              string         `bun:"type"`
	Side              string         `bun:"side"`
	Instrument        string         `bun:"instrument"`
	LimitPriceCents   sql.NullInt64  `bun:"limit_price_cents"`
	Quantity          int64          `bun:"quantity"`
	Status            string         `bun:"status"`
	PlacementAttempts int            `bun:"placement_attempts"`
	PlacedAt          sql.NullTime   `bun:"placed_at"`
	LastError         sql.NullString `bun:"last_error"`
}

// jobRow is one placement job of the outbox.
type jobRow struct {
	bun.BaseModel `bun:"table:placement_jobs"`

	OrderID    string         `bun:"order_id,pk"`
	DueAt      time.Time      `bun:"due_at"`
	Attempts   int            `bun:"attempts"`
	LeaseOwner sql.NullString `bun:"lease_owner"`
}

func toRow(o domain.Order) *orderRow {
	r := &orderRow{
		ID:                o.ID.String(),
		CreatedAt:         o.CreatedAt.UTC(),
		Type:              string(o.Type),
		Side:              string(o.Side),
		Instrument:        string(o.Instrument),
		Quantity:          o.Quantity,
		Status:            string(o.Status),
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

func (r *orderRow) toDomain() (domain.Order, error) {
	id, err := domain.ParseID(r.ID)
	if err != nil {
		return domain.Order{}, fmt.Errorf("store: corrupt order id %q: %w", r.ID, err)
	}
	o := domain.Order{
		ID:                id,
		CreatedAt:         r.CreatedAt.UTC(),
		Type:              domain.Type(r.Type),
		Side:              domain.Side(r.Side),
		Instrument:        domain.ISIN(r.Instrument),
		Quantity:          r.Quantity,
		Status:            domain.Status(r.Status),
		PlacementAttempts: r.PlacementAttempts,
		LastError:         r.LastError.String,
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
	if err := d.creates.do(ctx, toRow(o)); err != nil {
		if errors.Is(err, domain.ErrConflict) || errors.Is(err, errClosed) {
			return err
		}
		return fmt.Errorf("store: create order %s: %w", o.ID, err)
	}
	return nil
}

// Order returns the order with the given ID, or an error wrapping
// domain.ErrNotFound.
func (d *DB) Order(ctx context.Context, id domain.ID) (domain.Order, error) {
	var row orderRow
	err := d.db.NewSelect().Model(&row).Where("id = ?", id.String()).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Order{}, orderNotFound(id)
	}
	if err != nil {
		return domain.Order{}, fmt.Errorf("store: read order %s: %w", id, err)
	}
	return row.toDomain()
}

// List returns orders newest first as q selects them.
func (d *DB) List(ctx context.Context, q ports.ListQuery) ([]domain.Order, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("store: list limit %d must be at least 1", q.Limit)
	}
	var rows []orderRow
	sel := d.db.NewSelect().Model(&rows).OrderExpr("id DESC").Limit(int64(q.Limit))
	if !q.Before.IsZero() {
		sel = sel.Where("id < ?", q.Before.String())
	}
	if q.Status != "" {
		sel = sel.Where("status = ?", string(q.Status))
	}
	if err := sel.Scan(ctx); err != nil {
		return nil, fmt.Errorf("store: list orders: %w", err)
	}
	return toDomainAll(rows)
}

func toDomainAll(rows []orderRow) ([]domain.Order, error) {
	out := make([]domain.Order, 0, len(rows))
	for i := range rows {
		o, err := rows[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}
