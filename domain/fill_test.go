package domain_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/ordergate/ordergate/domain"
)

func TestDecimalString(t *testing.T) {
	tests := []struct {
		micros int64
		want   string
	}{
		{100_000_000, "100.00"},
		{100_125_000, "100.125"},
		{33_333_333, "33.333333"},
		{100_003_333, "100.003333"},
		{0, "0.00"},
		{1, "0.000001"},
		{10_000, "0.01"},
		{100_000, "0.10"},
		{120_000, "0.12"},
		{123_000, "0.123"},
		{999_999_999_990_000, "999999999.99"},
		{-1_500_000, "-1.50"},
		{math.MaxInt64, "9223372036854.775807"},
		{math.MinInt64, "-9223372036854.775808"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			d := domain.Decimal(tt.micros)
			if got := d.String(); got != tt.want {
				t.Errorf("Decimal(%d).String() = %q; want %q", tt.micros, got, tt.want)
			}
			if got := string(d.AppendText([]byte("x="))); got != "x="+tt.want {
				t.Errorf("AppendText = %q; want %q", got, "x="+tt.want)
			}
		})
	}
}

func TestAverageFillPrice(t *testing.T) {
	type fill struct {
		qty   int64
		cents int64
	}
	tests := []struct {
		name  string
		fills []fill
		want  string // "" while nothing is filled
	}{
		{"nothing filled", nil, ""},
		{"one fill", []fill{{10, 10000}}, "100.00"},
		{"weighted", []fill{{4, 10000}, {6, 10100}}, "100.60"},
		{"exact in hundred-thousandths", []fill{{1, 10000}, {7, 10025}}, "100.21875"},
		{"a third, rounded down", []fill{{1, 9999}, {1, 10001}, {1, 10001}}, "100.003333"},
		{"two thirds, rounded up", []fill{{1, 1}, {2, 2}}, "0.016667"},
		// 100.0000005 and 100.0000015 are halfway: half-even rounds to the
		// even millionth.
		{"half to even, down", []fill{{1, 10001}, {19_999, 10000}}, "100.00"},
		{"half to even, up", []fill{{3, 10001}, {19_997, 10000}}, "100.000002"},
		{"largest order at the largest price", []fill{{domain.MaxQuantity, int64(domain.MaxPrice)}}, "999999999.99"},
		{"largest notional, mixed", []fill{{domain.MaxQuantity - 1, int64(domain.MaxPrice)}, {1, 1}}, "999999998.99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o domain.Order
			for _, f := range tt.fills {
				o.Fills = append(o.Fills, domain.Fill{Quantity: f.qty, Price: domain.PriceFromCents(f.cents)})
			}
			got, ok := o.AverageFillPrice()
			if tt.want == "" {
				if ok {
					t.Errorf("AverageFillPrice() = %s, true; want false", got)
				}
				return
			}
			if !ok || got.String() != tt.want {
				t.Errorf("AverageFillPrice() = %s, %v; want %s, true", got, ok, tt.want)
			}
		})
	}
}

// TestAverageFillPriceAgainstBig compares the 128-bit arithmetic with
// math/big on random fills up to the largest quantities and prices.
func TestAverageFillPriceAgainstBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20_000 {
		var o domain.Order
		left := int64(domain.MaxQuantity)
		for n := 1 + rng.IntN(5); n > 0 && left > 0; n-- {
			qty := 1 + rng.Int64N(left)
			if rng.IntN(2) == 0 {
				qty = 1 + rng.Int64N(min(left, 1000))
			}
			cents := 1 + rng.Int64N(int64(domain.MaxPrice))
			if rng.IntN(2) == 0 {
				cents = 9_900 + rng.Int64N(200)
			}
			o.Fills = append(o.Fills, domain.Fill{Quantity: qty, Price: domain.PriceFromCents(cents)})
			left -= qty
		}
		got, ok := o.AverageFillPrice()
		want := bigAverage(o.Fills)
		if !ok || int64(got) != want {
			t.Fatalf("case %d: AverageFillPrice(%+v) = %d, %v; math/big says %d millionths", i, o.Fills, got, ok, want)
		}
	}
}

// bigAverage is the mean in millionths, rounded half-even, by math/big.
func bigAverage(fills []domain.Fill) int64 {
	sum, qty := new(big.Int), new(big.Int)
	for _, f := range fills {
		sum.Add(sum, new(big.Int).Mul(big.NewInt(f.Quantity), big.NewInt(f.Price.Cents())))
		qty.Add(qty, big.NewInt(f.Quantity))
	}
	sum.Mul(sum, big.NewInt(10_000))
	q, r := new(big.Int).QuoRem(sum, qty, new(big.Int))
	switch r.Mul(r, big.NewInt(2)).Cmp(qty) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

func TestFilledQuantity(t *testing.T) {
	o := domain.Order{Fills: []domain.Fill{{Quantity: 4}, {Quantity: 6}, {Quantity: domain.MaxQuantity}}}
	if got, want := o.FilledQuantity(), int64(domain.MaxQuantity+10); got != want {
		t.Errorf("FilledQuantity() = %d; want %d", got, want)
	}
	if got := (domain.Order{}).FilledQuantity(); got != 0 {
		t.Errorf("FilledQuantity() of no fills = %d; want 0", got)
	}
}

// Equivalent's at most two fills add up to what the fills counted do: the
// same filled quantity and the same exact average price, large orders
// and prices included.
func TestFillTotalsEquivalent(t *testing.T) {
	if _, ok := (domain.FillTotals{}).Equivalent(); ok {
		t.Error("Equivalent of no fill reports true")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for run := range 2000 {
		var o domain.Order
		var totals domain.FillTotals
		for range 1 + rng.IntN(20) {
			f := domain.Fill{Quantity: 1 + rng.Int64N(domain.MaxQuantity/20), Price: domain.PriceFromCents(1 + rng.Int64N(99_999_999_999))}
			if run%2 == 0 {
				f.Price = domain.PriceFromCents(9_990 + rng.Int64N(20)) // close prices: a remainder of few shares
			}
			o.Fills = append(o.Fills, f)
			totals.Add(f.Quantity, f.Price)
		}
		eq, ok := totals.Equivalent()
		if !ok || len(eq) > 2 {
			t.Fatalf("run %d: Equivalent = %d fills, %v", run, len(eq), ok)
		}
		same := domain.Order{Fills: eq}
		wantAvg, _ := o.AverageFillPrice()
		gotAvg, _ := same.AverageFillPrice()
		if same.FilledQuantity() != o.FilledQuantity() || gotAvg != wantAvg {
			t.Fatalf("run %d: equivalent fills %+v give %d at %s; the fills %d at %s", run, eq, same.FilledQuantity(), gotAvg, o.FilledQuantity(), wantAvg)
		}
	}
}
