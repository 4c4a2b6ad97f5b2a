package exchange

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// VenueOrder is the venue's own record of an order: the truth that tests
// compare ordergate's view with. GET /orders/{id} of VenueHandler serves it
// as JSON, prices as decimal strings, and it decodes back exactly.
type VenueOrder struct {
	// ID is the client order ID.
	ID         domain.ID
	Type       domain.Type
	Side       domain.Side
	Instrument domain.ISIN
	// LimitPrice is nil for market orders.
	LimitPrice *domain.Price
	Quantity   int64
	// Status is placed, partially_filled, filled, canceled or expired.
	Status domain.Status
	// CumQty is the quantity filled so far: the sum of Executions.
	CumQty int64
	// CancelPending is true from an accepted cancel until the venue
	// carries it out or refuses it.
	CancelPending bool
	// PlacedAt is when the venue acknowledged the order; UpdatedAt when
	// its record last changed.
	PlacedAt  time.Time
	UpdatedAt time.Time
	// Executions are the order's fills, oldest first; each ExecID is that
	// of its report on the feed.
	Executions []domain.Fill
}

// Leaves returns the quantity still working: none once the order ended.
func (o VenueOrder) Leaves() int64 {
	if o.Status.Terminal() {
		return 0
	}
	return o.Quantity - o.CumQty
}

func (o VenueOrder) clone() VenueOrder {
	o.Executions = slices.Clone(o.Executions)
	if o.LimitPrice != nil {
		p := *o.LimitPrice
		o.LimitPrice = &p
	}
	return o
}

// venueOrderJSON is VenueOrder on the wire.
type venueOrderJSON struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Side          string          `json:"side"`
	Instrument    string          `json:"instrument"`
	LimitPrice    *string         `json:"limit_price"`
	Quantity      int64           `json:"quantity"`
	Status        string          `json:"status"`
	CumQty        int64           `json:"cum_qty"`
	LeavesQty     int64           `json:"leaves_qty"`
	CancelPending bool            `json:"cancel_pending"`
	PlacedAt      time.Time       `json:"placed_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	Executions    []executionJSON `json:"executions"`
}

// executionJSON is one execution on the wire, named as ordergate's fills
// are.
type executionJSON struct {
	ExecID     string    `json:"exec_id"`
	Quantity   int64     `json:"quantity"`
	Price      string    `json:"price"`
	ExecutedAt time.Time `json:"executed_at"`
}

// MarshalJSON implements json.Marshaler.
func (o VenueOrder) MarshalJSON() ([]byte, error) {
	w := venueOrderJSON{
		ID:            o.ID.String(),
		Type:          string(o.Type),
		Side:          string(o.Side),
		Instrument:    string(o.Instrument),
		Quantity:      o.Quantity,
		Status:        string(o.Status),
		CumQty:        o.CumQty,
		LeavesQty:     o.Leaves(),
		CancelPending: o.CancelPending,
		PlacedAt:      o.PlacedAt,
		UpdatedAt:     o.UpdatedAt,
		Executions:    make([]executionJSON, len(o.Executions)),
	}
	if o.LimitPrice != nil {
		s := o.LimitPrice.String()
		w.LimitPrice = &s
	}
	for i, e := range o.Executions {
		w.Executions[i] = executionJSON{ExecID: e.ExecID, Quantity: e.Quantity, Price: e.Price.String(), ExecutedAt: e.ExecutedAt}
	}
	return json.Marshal(w)
}

// UnmarshalJSON implements json.Unmarshaler, reading prices exactly.
func (o *VenueOrder) UnmarshalJSON(b []byte) error {
	var w venueOrderJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	id, err := domain.ParseID(w.ID)
	if err != nil {
		return fmt.Errorf("venue order: %w", err)
	}
	isin, err := domain.ParseISIN(w.Instrument)
	if err != nil {
		return fmt.Errorf("venue order %s: %w", id, err)
	}
	r := VenueOrder{
		ID:            id,
		Type:          domain.Type(w.Type),
		Side:          domain.Side(w.Side),
		Instrument:    isin,
		Quantity:      w.Quantity,
		Status:        domain.Status(w.Status),
		CumQty:        w.CumQty,
		CancelPending: w.CancelPending,
		PlacedAt:      w.PlacedAt,
		UpdatedAt:     w.UpdatedAt,
	}
	if w.LimitPrice != nil {
		p, err := domain.ParsePrice(*w.LimitPrice)
		if err != nil {
			return fmt.Errorf("venue order %s: %w", id, err)
		}
		r.LimitPrice = &p
	}
	for _, e := range w.Executions {
		p, err := domain.ParsePrice(e.Price)
		if err != nil {
			return fmt.Errorf("venue order %s: execution %s: %w", id, e.ExecID, err)
		}
		r.Executions = append(r.Executions, domain.Fill{ExecID: e.ExecID, Quantity: e.Quantity, Price: p, ExecutedAt: e.ExecutedAt})
	}
	*o = r
	return nil
}
