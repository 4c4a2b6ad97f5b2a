package httpapi

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// Number is a JSON number kept as the text the client sent, so that a price
// is read exactly by domain.ParsePrice instead of through float64.
type Number struct {
	text string
	null bool
}

// UnmarshalJSON keeps the raw number text; Huma's schema validation has
// already checked that it is a JSON number or null.
func (n *Number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*n = Number{null: true}
		return nil
	}
	*n = Number{text: string(b)}
	return nil
}

// Integer is a JSON number that must be written as a plain integer: Huma
// accepts 1.0 and 1e2 for an integer schema, ordergate does not.
type Integer struct {
	text string
}

// UnmarshalJSON keeps the raw number text.
func (n *Integer) UnmarshalJSON(b []byte) error {
	n.text = string(bytes.TrimSpace(b))
	return nil
}

// Int64 returns the value if the client wrote a plain integer that fits.
func (n Integer) Int64() (int64, bool) {
	s := n.text
	if s == "" || len(s) > 19 {
		return 0, false
	}
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int64(s[i]-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// Money writes a domain.Price as a JSON number with two decimals (12.30),
// never through float64.
type Money domain.Price

// MarshalJSON implements json.Marshaler.
func (m Money) MarshalJSON() ([]byte, error) { return domain.Price(m).AppendText(nil), nil }

// Timestamp writes a time in UTC as RFC 3339 with exactly six fractional
// digits, the precision ordergate stores.
type Timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 29)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	return append(b, '"'), nil
}

func float(v float64) *float64 { return &v }

// exactNumber tells code generators to keep a price as its decimal text:
// oapi-codegen makes it a json.Number rather than a binary float.
var exactNumber = map[string]any{
	"x-go-type":        "exactjson.Number",
	"x-go-type-import": map[string]any{"path": "encoding/json", "name": "exactjson"},
}

// Schema implements huma.SchemaProvider: a number, or null when absent.
func (Number) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Type:             huma.TypeNumber,
		Nullable:         true,
		ExclusiveMinimum: float(0),
		Maximum:          float(999999999.99),
		Description:      "Limit price, exact, with at most 2 decimal places. Required for limit orders; absent or null for market orders. Read as a decimal from the JSON text, never through binary floating point.",
		Examples:         []any{123.45},
		Extensions:       exactNumber,
	}
}

// Schema implements huma.SchemaProvider.
func (Integer) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Type:        huma.TypeInteger,
		Minimum:     float(1),
		Maximum:     float(domain.MaxQuantity),
		Description: "Number of shares, a whole number written without a fraction or exponent (10, not 10.0 or 1e1).",
		Examples:    []any{10},
	}
}

// Schema implements huma.SchemaProvider: an exact number. A field that
// may be null says so with its nullable tag.
func (Money) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Type:        huma.TypeNumber,
		Description: "Price with two decimal places, exact.",
		Examples:    []any{123.45},
		Extensions:  exactNumber,
	}
}

// Decimal writes a domain.Decimal, such as an average fill price, as a JSON
// number with its exact digits (100.003333), never through float64.
type Decimal domain.Decimal

// MarshalJSON implements json.Marshaler.
func (d Decimal) MarshalJSON() ([]byte, error) { return domain.Decimal(d).AppendText(nil), nil }

// Schema implements huma.SchemaProvider: an exact number. A field that
// may be null says so with its nullable tag.
func (Decimal) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Type:        huma.TypeNumber,
		Description: "Exact decimal with at least two and at most six decimal places.",
		Examples:    []any{100.003333},
		Extensions:  exactNumber,
	}
}

// Schema implements huma.SchemaProvider.
func (Timestamp) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Type:        huma.TypeString,
		Format:      "date-time",
		Description: "RFC 3339 timestamp in UTC with microseconds.",
		Examples:    []any{"2026-11-24T10:15:30.123456Z"},
	}
}

var (
	_ huma.SchemaProvider = Number{}
	_ huma.SchemaProvider = Integer{}
	_ huma.SchemaProvider = Money(0)
	_ huma.SchemaProvider = Decimal(0)
	_ huma.SchemaProvider = Timestamp{}
)

// OrderRequest is the body of POST /orders.
type OrderRequest struct {
	Type       string  `json:"type" enum:"market,limit" doc:"Order type: market executes at the best available price, limit at limit_price or better." example:"limit"`
	Side       string  `json:"side" enum:"buy,sell" doc:"Whether to buy or sell the instrument." example:"buy"`
	Instrument string  `json:"instrument" minLength:"12" maxLength:"12" pattern:"^[A-Z]{2}[A-Z0-9]{9}[0-9]$" doc:"ISIN (ISO 6166) of the instrument: 2 upper-case letters, 9 upper-case letters or digits and a correct check digit." example:"US0378331005"`
	LimitPrice *Number `json:"limit_price,omitempty" nullable:"true"`
	Quantity   Integer `json:"quantity"`
}

// Order is an order as the API returns it.
type Order struct {
	ID                string      `json:"id" format:"uuid" doc:"Order ID, a UUIDv7: IDs sort in creation order." example:"0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11"`
	CreatedAt         Timestamp   `json:"created_at" doc:"When the order was accepted, RFC 3339 in UTC." example:"2026-11-24T10:15:30.123456Z"`
	UpdatedAt         Timestamp   `json:"updated_at" doc:"When the order last changed: its status, its fills or its acknowledgement, RFC 3339 in UTC. Retries after transient exchange errors (placement_attempts, last_error) do not move it." example:"2026-11-24T10:15:31.020000Z"`
	Type              string      `json:"type" enum:"market,limit" doc:"Order type." example:"limit"`
	Side              string      `json:"side" enum:"buy,sell" doc:"Order side." example:"buy"`
	Instrument        string      `json:"instrument" doc:"ISIN of the instrument." example:"US0378331005"`
	LimitPrice        *Money      `json:"limit_price" nullable:"true" doc:"Limit price with two decimal places, exactly as accepted; null for market orders." example:"123.45"`
	Quantity          int64       `json:"quantity" doc:"Number of shares." example:"10"`
	Status            OrderStatus `json:"status"`
	FilledQuantity    int64       `json:"filled_quantity" doc:"Shares filled so far: the sum of the order's fills (GET /orders/{id}/fills). Never decreases and never exceeds quantity." example:"4"`
	AverageFillPrice  *Decimal    `json:"average_fill_price" nullable:"true" doc:"Quantity-weighted mean price of the order's fills, exact, or rounded half-even to 6 decimal places where it does not terminate; null while nothing is filled." example:"100.003333"`
	PlacementAttempts int         `json:"placement_attempts" doc:"Exchange calls settled so far." example:"0"`
	PlacedAt          *Timestamp  `json:"placed_at" nullable:"true" doc:"When the exchange acknowledged the order; null until then." example:"2026-11-24T10:15:30.654321Z"`
	LastError         *string     `json:"last_error" nullable:"true" doc:"The last transient exchange error, or the rejection reason; null if none. For operators." example:"Failed to place order at stock exchange. Connection not available"`
}

func toOrder(o domain.Order) Order {
	var avg *domain.Decimal
	if a, ok := o.AverageFillPrice(); ok {
		avg = &a
	}
	return orderWithFills(o, o.FilledQuantity(), avg)
}

// orderWithFills renders o, whose fills add up to filled shares at the
// average price avg (nil while nothing is filled).
func orderWithFills(o domain.Order, filled int64, avg *domain.Decimal) Order {
	out := Order{
		ID:                o.ID.String(),
		CreatedAt:         Timestamp(o.CreatedAt),
		UpdatedAt:         Timestamp(o.UpdatedAt),
		Type:              string(o.Type),
		Side:              string(o.Side),
		Instrument:        string(o.Instrument),
		Quantity:          o.Quantity,
		Status:            OrderStatus(o.Status),
		FilledQuantity:    filled,
		PlacementAttempts: o.PlacementAttempts,
	}
	if o.UpdatedAt.Before(o.CreatedAt) {
		// A store that predates updated_at leaves it zero; an order never
		// changed before it was created.
		out.UpdatedAt = Timestamp(o.CreatedAt)
	}
	if o.LimitPrice != nil {
		m := Money(*o.LimitPrice)
		out.LimitPrice = &m
	}
	if avg != nil {
		d := Decimal(*avg)
		out.AverageFillPrice = &d
	}
	if !o.PlacedAt.IsZero() {
		t := Timestamp(o.PlacedAt)
		out.PlacedAt = &t
	}
	if o.LastError != "" {
		s := o.LastError
		out.LastError = &s
	}
	return out
}

// Fill is one execution of an order at the exchange, as the API returns it.
type Fill struct {
	ExecID     string    `json:"exec_id" doc:"The exchange's identifier of the execution, unique across its orders." example:"s1-17"`
	Quantity   int64     `json:"quantity" doc:"Shares executed." example:"1"`
	Price      Money     `json:"price" doc:"Price of the execution with two decimal places, exact." example:"99.99"`
	ExecutedAt Timestamp `json:"executed_at" doc:"When the exchange executed it, RFC 3339 in UTC." example:"2026-11-24T10:15:30.910000Z"`
}

func toFill(f domain.Fill) Fill {
	return Fill{ExecID: f.ExecID, Quantity: f.Quantity, Price: Money(f.Price), ExecutedAt: Timestamp(f.ExecutedAt)}
}

// FillList is an order's fills.
type FillList struct {
	Fills []Fill `json:"fills" nullable:"false" doc:"The order's fills, oldest first; empty while nothing is filled."`
}

// toFills returns fills oldest first. Stores keep them in the order they
// were applied, which is the exchange's; the stable sort only makes sure.
func toFills(fills []domain.Fill) FillList {
	out := FillList{Fills: make([]Fill, len(fills))}
	for i, f := range fills {
		out.Fills[i] = toFill(f)
	}
	slices.SortStableFunc(out.Fills, func(a, b Fill) int { return time.Time(a.ExecutedAt).Compare(time.Time(b.ExecutedAt)) })
	return out
}

// OrderList is one page of orders.
type OrderList struct {
	Orders     []Order `json:"orders" doc:"Orders, newest first." nullable:"false"`
	NextCursor *string `json:"next_cursor" nullable:"true" doc:"Pass as cursor to get the next page; null on the last page." example:"djE6MDE5M2E1YzItN2QxZS03YzNhLTliMmYtMWY2ZjBlMmE4YzEx"`
}

// OrderStatus is an order's status. Its values are the domain's
// (domain.Statuses), so the document's enum follows the lifecycle.
type OrderStatus string

// statusDocs says what each status means, for the document; a test checks
// every status of the domain has its line.
var statusDocs = map[domain.Status]string{
	domain.Pending:         "stored, its placement guaranteed and under way",
	domain.Placed:          "acknowledged by the exchange and working, nothing filled yet",
	domain.PartiallyFilled: "part of the quantity filled, the rest working",
	domain.PendingCancel:   "the client asked to cancel; the exchange has not confirmed yet",
	domain.Filled:          "the whole quantity filled (final)",
	domain.Canceled:        "canceled, possibly after part of it filled (final)",
	domain.Expired:         "the exchange ended the unfilled rest at its time limit (final)",
	domain.Rejected:        "refused by the exchange for good (final)",
}

// Schema implements huma.SchemaProvider.
func (OrderStatus) Schema(huma.Registry) *huma.Schema {
	return enumSchema("Where the order stands.", domain.Statuses(), statusDocs, domain.Pending)
}

// enumSchema is a string enum of values, described by intro and each
// value's entry in docs.
func enumSchema[T ~string](intro string, values []T, docs map[T]string, example T) *huma.Schema {
	var enum []any
	var doc strings.Builder
	doc.WriteString(intro)
	for _, v := range values {
		enum = append(enum, string(v))
		fmt.Fprintf(&doc, " %s: %s.", v, docs[v])
	}
	return &huma.Schema{Type: huma.TypeString, Enum: enum, Description: doc.String(), Examples: []any{string(example)}}
}

// Status is the body of the health endpoints.
type Status struct {
	Status string `json:"status" doc:"ok when healthy." example:"ok"`
	// Exchange is the exchange circuit breaker's state, on /readyz.
	Exchange ports.GateState `json:"exchange,omitempty" enum:"closed,half-open,open" doc:"State of the exchange circuit breaker (readyz only): open means placement is paused while the exchange fails; orders are still accepted." example:"closed"`
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// StatusOutput is the answer of the health endpoints.
type StatusOutput struct {
	Body Status
}
