package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
)

// brokerGateway is an exchange adapter of one's own: anything with
// Place(ctx, order) error and Cancel(ctx, id) error is a ports.Exchange.
// This one fails its first call, as real exchanges do, to show the
// dispatcher retrying.
type brokerGateway struct{ calls int }

func (g *brokerGateway) Place(ctx context.Context, o domain.Order) error {
	g.calls++
	if g.calls == 1 {
		return errors.New("connection not available") // transient: retried
	}
	fmt.Printf("exchange: %s %d %s at %s\n", o.Side, o.Quantity, o.Instrument, o.LimitPrice)
	return nil
}

func (g *brokerGateway) Cancel(ctx context.Context, id domain.ID) error {
	fmt.Println("exchange: cancel", id)
	return nil
}

// Example_embedding runs ordergate's core inside another Go program, with no
// HTTP and no fx: a SQLite store, an exchange adapter of one's own, the
// order service and the dispatcher.
func Example_embedding() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ordergate-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A SQLite file; a postgres:// URL works the same way.
	db, err := store.Open(ctx, filepath.Join(dir, "orders.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	svc := app.NewService(db, db, app.SystemClock{}, nil)
	price, _ := domain.ParsePrice("189.50")
	o, err := svc.PlaceOrder(ctx, "my-desk", domain.Spec{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: &price, Quantity: 10})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted:", o.Status)

	d, err := app.NewDispatcher(db, &brokerGateway{}, app.SystemClock{}, app.DispatcherConfig{
		RetryBase: time.Millisecond, RetryMax: time.Millisecond, // retry at once, for the example
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	// Run(ctx) does this in a loop until ctx ends; DispatchOnce is one round.
	for i := 0; o.Status == domain.Pending && i < 1000; i++ {
		if _, err := d.DispatchOnce(ctx); err != nil {
			log.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // let the retry fall due
		if o, err = svc.Order(ctx, "my-desk", o.ID); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("%s after %d attempts, last error %q\n", o.Status, o.PlacementAttempts, o.LastError)
	// Output:
	// accepted: pending
	// exchange: buy 10 US0378331005 at 189.50
	// placed after 2 attempts, last error "connection not available"
}
