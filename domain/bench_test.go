package domain_test

import (
	"testing"
	"time"

	"github.com/ordergate/ordergate/domain"
)

func BenchmarkNew(b *testing.B) {
	now := time.Now()
	p := domain.PriceFromCents(12345)
	spec := domain.Spec{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: &p, Quantity: 10}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := domain.New(domain.NewID(now), now, spec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePrice(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := domain.ParsePrice("1234567.89"); err != nil {
			b.Fatal(err)
		}
	}
}
