package domain

import (
	"errors"
	"strconv"
	"time"
)

// Type is the kind of order: market or limit.
type Type string

// Order types.
const (
	// Market orders execute at the best available price.
	Market Type = "market"
	// Limit orders execute at LimitPrice or better.
	Limit Type = "limit"
)

// Side says whether an order buys or sells.
type Side string

// Order sides.
const (
	// Buy acquires the instrument.
	Buy Side = "buy"
	// Sell disposes of the instrument.
	Sell Side = "sell"
)

// MaxQuantity is the largest quantity one order may carry.
const MaxQuantity = 1_000_000_000

// Spec is what a client asks for: an order before it is validated, given an
// identity and stored.
type Spec struct {
	Type       Type
	Side       Side
	Instrument string
	// LimitPrice is required for limit orders and must be nil for market
	// orders. Use ParsePrice to read one from text exactly.
	LimitPrice *Price
	Quantity   int64
}

// Order is a client's instruction to buy or sell an instrument, as stored
// by ordergate, together with its life at the exchange so far. Change it
// only through the lifecycle's functions (Apply, Acknowledge, Reject,
// RequestCancel), which keep its rules.
type Order struct {
	ID ID
	// Account owns the order: only requests with one of its keys see it.
	Account   Account
	CreatedAt time.Time
	// UpdatedAt is when the order last changed.
	UpdatedAt  time.Time
	Type       Type
	Side       Side
	Instrument ISIN
	// LimitPrice is nil for market orders.
	LimitPrice *Price
	Quantity   int64
	Status     Status
	// Fills are the order's executions, oldest applied first. Stores load
	// them with the order: its filled quantity and average price derive
	// from them.
	Fills []Fill
	// PlacementAttempts counts the exchange calls settled so far.
	PlacementAttempts int
	// PlacedAt is when the exchange acknowledged the order; zero until then.
	PlacedAt time.Time
	// LastError is the latest transient exchange error, for operators, or
	// the reason for a rejection; empty when there was none.
	LastError string
}

// New validates spec and returns a pending order with the given ID, created
// (and last updated) at now, kept in UTC to the microsecond, the precision
// both stores keep. The caller that stores it emits EventCreated.
// It reports every broken rule at once as ValidationErrors.
func New(id ID, now time.Time, spec Spec) (Order, error) {
	var errs ValidationErrors
	add := func(field, reason string) { errs = append(errs, &ValidationError{Field: field, Reason: reason}) }

	switch spec.Type {
	case Market:
		if spec.LimitPrice != nil {
			add("limit_price", "must be absent or null for a market order")
		}
	case Limit:
		switch {
		case spec.LimitPrice == nil:
			add("limit_price", "is required for a limit order")
		case *spec.LimitPrice <= 0:
			add("limit_price", "must be greater than 0")
		case *spec.LimitPrice > MaxPrice:
			add("limit_price", "must be at most 999999999.99")
		}
	default:
		add("type", `must be "market" or "limit"`)
	}
	if spec.Side != Buy && spec.Side != Sell {
		add("side", `must be "buy" or "sell"`)
	}
	isin, err := ParseISIN(spec.Instrument)
	var verr *ValidationError
	if errors.As(err, &verr) {
		errs = append(errs, verr)
	}
	if spec.Quantity < 1 {
		add("quantity", "must be at least 1")
	} else if spec.Quantity > MaxQuantity {
		add("quantity", "must be at most "+strconv.Itoa(MaxQuantity))
	}
	if len(errs) > 0 {
		return Order{}, errs
	}
	var price *Price
	if spec.LimitPrice != nil {
		p := *spec.LimitPrice
		price = &p
	}
	created := now.UTC().Truncate(time.Microsecond)
	return Order{
		ID:         id,
		CreatedAt:  created,
		UpdatedAt:  created,
		Type:       spec.Type,
		Side:       spec.Side,
		Instrument: isin,
		LimitPrice: price,
		Quantity:   spec.Quantity,
		Status:     Pending,
	}, nil
}
