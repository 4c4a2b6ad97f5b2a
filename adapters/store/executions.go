package store

import (
	"database/sql"
	"time"

	"github.com/uptrace/bun"

	"github.com/ordergate/ordergate/domain"
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
