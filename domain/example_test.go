package domain_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/ordergate/ordergate/domain"
)

// ExampleNew validates an order request the way POST /orders does: every
// broken rule is reported at once, each naming its field.
func ExampleNew() {
	now := time.Date(2026, 11, 24, 10, 15, 30, 0, time.UTC)
	_, err := domain.New(domain.NewID(now), now, domain.Spec{
		Type: domain.Limit, Side: "hold", Instrument: "US0378331006", Quantity: 0,
	})
	var errs domain.ValidationErrors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Printf("%s: %s\n", e.Field, e.Reason)
		}
	}
	fmt.Println("invalid:", errors.Is(err, domain.ErrInvalid))

	price, _ := domain.ParsePrice("189.5")
	o, err := domain.New(domain.NewID(now), now, domain.Spec{
		Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: &price, Quantity: 10,
	})
	fmt.Println(o.Status, o.Side, o.Quantity, o.Instrument, "at", o.LimitPrice, err)
	// Output:
	// limit_price: is required for a limit order
	// side: must be "buy" or "sell"
	// instrument: check digit is wrong: an ISIN starting US037833100 ends with 5
	// quantity: must be at least 1
	// invalid: true
	// pending buy 10 US0378331005 at 189.50 <nil>
}

// ExampleParsePrice reads prices exactly, as decimal text, never through a
// binary float.
func ExampleParsePrice() {
	for _, s := range []string{"0.1", "12.30", "1.230", "1.234", "-5"} {
		p, err := domain.ParsePrice(s)
		if err != nil {
			fmt.Println(s, "->", err)
			continue
		}
		fmt.Println(s, "->", p, "=", p.Cents(), "cents")
	}
	// Output:
	// 0.1 -> 0.10 = 10 cents
	// 12.30 -> 12.30 = 1230 cents
	// 1.230 -> 1.23 = 123 cents
	// 1.234 -> limit_price: must have at most 2 decimal places
	// -5 -> limit_price: must be greater than 0
}
