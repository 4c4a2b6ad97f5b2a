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

// ExampleApply follows one order through its life: the fill that races the
// client's cancel still counts, and wins.
func ExampleApply() {
	now := time.Date(2026, 11, 24, 10, 15, 30, 0, time.UTC)
	price, _ := domain.ParsePrice("101.00")
	o, _ := domain.New(domain.NewID(now), now, domain.Spec{
		Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: &price, Quantity: 10,
	})
	show := func(o domain.Order, events []domain.Event, err error) domain.Order {
		avg := "-"
		if a, ok := o.AverageFillPrice(); ok {
			avg = a.String()
		}
		fmt.Printf("%-16s filled %2d avg %-8s %v", o.Status, o.FilledQuantity(), avg, err)
		for _, e := range events {
			fmt.Printf(" %s", e.Type)
			if e.Fill != nil {
				fmt.Printf("(%d@%s)", e.Fill.Quantity, e.Fill.Price)
			}
		}
		fmt.Println()
		return o
	}
	report := func(seq int64, kind domain.ReportKind, qty int64, cents int64) domain.Report {
		return domain.Report{
			Seq: seq, ExecID: fmt.Sprint("E", seq), OrderID: o.ID, Kind: kind,
			LastQty: qty, LastPrice: domain.PriceFromCents(cents), At: now.Add(time.Duration(seq) * time.Second),
		}
	}

	o = show(domain.Acknowledge(o, now.Add(time.Second)))
	fill := report(2, domain.ReportPartialFill, 4, 10000)
	o = show(domain.Apply(o, fill))
	o = show(domain.RequestCancel(o, true, now.Add(3*time.Second)))
	o = show(domain.Apply(o, fill)) // a duplicate changes nothing
	o = show(domain.Apply(o, report(4, domain.ReportFill, 6, 10025)))
	o = show(domain.Apply(o, report(5, domain.ReportCancelRejected, 0, 0)))
	show(domain.RequestCancel(o, true, now.Add(6*time.Second)))
	// Output:
	// placed           filled  0 avg -        <nil> order.placed
	// partially_filled filled  4 avg 100.00   <nil> order.partially_filled(4@100.00)
	// pending_cancel   filled  4 avg 100.00   <nil> order.pending_cancel
	// pending_cancel   filled  4 avg 100.00   <nil>
	// filled           filled 10 avg 100.15   <nil> order.filled(6@100.25)
	// filled           filled 10 avg 100.15   <nil>
	// filled           filled 10 avg 100.15   transition not allowed: cancel_request on a filled order
}
