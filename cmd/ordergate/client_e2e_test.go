package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/ordergate/ordergate/openapi/client"
)

// TestEndToEndGeneratedClient places, reads, lists and cancels orders and
// reads their fills through the Go client generated from
// openapi/openapi.yaml, against the real binary: the committed document is
// what the server does.
func TestEndToEndGeneratedClient(t *testing.T) {
	p := start(t, "--db", filepath.Join(t.TempDir(), "client.db"), "--sim-failure-rate", "0", "--sim-latency", "10ms", "--sim-fill-time", "200ms")
	c, err := client.NewClientWithResponses("http://"+p.addr, client.WithAPIKey(p.key))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	price := json.Number("1234567.89") // exact: a float32 or float64 would not keep it
	key := "client-e2e-1"
	req := client.OrderRequest{Type: client.OrderRequestTypeLimit, Side: client.OrderRequestSideBuy, Instrument: "US0378331005", LimitPrice: &price, Quantity: 7}
	created, err := c.PlaceOrderWithResponse(ctx, &client.PlaceOrderParams{IdempotencyKey: &key}, req)
	if err != nil {
		t.Fatal(err)
	}
	if created.StatusCode() != http.StatusCreated || created.JSON201 == nil {
		t.Fatalf("place-order = %d %s", created.StatusCode(), created.Body)
	}
	o := *created.JSON201
	if o.Status != client.OrderStatusPending || o.LimitPrice == nil || *o.LimitPrice != "1234567.89" || o.Quantity != 7 {
		t.Errorf("created order = %+v; want pending, limit 1234567.89, quantity 7", o)
	}
	replay, err := c.PlaceOrderWithResponse(ctx, &client.PlaceOrderParams{IdempotencyKey: &key}, req)
	if err != nil {
		t.Fatal(err)
	}
	if replay.JSON201 == nil || replay.JSON201.Id != o.Id || replay.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay = %d %s; want the first order, replayed", replay.StatusCode(), replay.Body)
	}

	bad := req
	bad.Instrument = "US0378331006"
	invalid, err := c.PlaceOrderWithResponse(ctx, nil, bad)
	if err != nil {
		t.Fatal(err)
	}
	if invalid.ApplicationproblemJSON422 == nil || invalid.ApplicationproblemJSON422.Errors == nil ||
		len(*invalid.ApplicationproblemJSON422.Errors) == 0 || *(*invalid.ApplicationproblemJSON422.Errors)[0].Location != "body.instrument" {
		t.Errorf("bad ISIN = %d %s; want a 422 naming body.instrument", invalid.StatusCode(), invalid.Body)
	}

	// The simulator fills it (the limit is above its price, 100.00).
	waitUntil(t, 20*time.Second, "the order to be filled", func() bool {
		got, err := c.GetOrderWithResponse(ctx, o.Id.String())
		return err == nil && got.JSON200 != nil && got.JSON200.Status == client.OrderStatusFilled
	})
	got, err := c.GetOrderWithResponse(ctx, o.Id.String())
	if err != nil || got.JSON200 == nil {
		t.Fatalf("get-order: %v", err)
	}
	if got.JSON200.PlacedAt == nil || got.JSON200.PlacementAttempts != 1 || got.JSON200.FilledQuantity != 7 ||
		got.JSON200.AverageFillPrice == nil || *got.JSON200.AverageFillPrice != "100.00" {
		t.Errorf("filled order = %+v; want placed after 1 attempt, 7 filled at 100.00", got.JSON200)
	}
	fills, err := c.ListFillsWithResponse(ctx, o.Id.String())
	if err != nil || fills.JSON200 == nil {
		t.Fatalf("list-fills: %v", err)
	}
	var sum int64
	for _, f := range fills.JSON200.Fills {
		sum += f.Quantity
		if f.Price != "100.00" || f.ExecId == "" {
			t.Errorf("fill %+v; want an exec id and the price 100.00 exactly", f)
		}
	}
	if n := len(fills.JSON200.Fills); n < 1 || n > 3 || sum != 7 {
		t.Errorf("fills = %s; want 1 to 3 adding up to 7", fills.Body)
	}
	refused, err := c.CancelOrderWithResponse(ctx, o.Id.String())
	if err != nil || refused.ApplicationproblemJSON409 == nil {
		t.Errorf("cancel of a filled order = %d %s; want a 409 problem", refused.StatusCode(), refused.Body)
	}

	// A resting order (below the simulator's price) is canceled.
	low := json.Number("90.00")
	rest, err := c.PlaceOrderWithResponse(ctx, nil, client.OrderRequest{Type: client.OrderRequestTypeLimit, Side: client.OrderRequestSideBuy, Instrument: "US0378331005", LimitPrice: &low, Quantity: 3})
	if err != nil || rest.JSON201 == nil {
		t.Fatalf("place resting order: %v", err)
	}
	waitUntil(t, 20*time.Second, "the resting order to be placed", func() bool {
		got, err := c.GetOrderWithResponse(ctx, rest.JSON201.Id.String())
		return err == nil && got.JSON200 != nil && got.JSON200.Status == client.OrderStatusPlaced
	})
	accepted, err := c.CancelOrderWithResponse(ctx, rest.JSON201.Id.String())
	if err != nil || accepted.JSON202 == nil || accepted.JSON202.Status != client.OrderStatusPendingCancel {
		t.Fatalf("cancel = %d %s; want 202 pending_cancel", accepted.StatusCode(), accepted.Body)
	}
	waitUntil(t, 20*time.Second, "the resting order to be canceled", func() bool {
		got, err := c.GetOrderWithResponse(ctx, rest.JSON201.Id.String())
		return err == nil && got.JSON200 != nil && got.JSON200.Status == client.OrderStatusCanceled
	})

	limit := int64(10)
	status := client.ListOrdersParamsStatusFilled
	list, err := c.ListOrdersWithResponse(ctx, &client.ListOrdersParams{Limit: &limit, Status: &status})
	if err != nil || list.JSON200 == nil {
		t.Fatalf("list-orders: %v %s", err, list.Body)
	}
	if len(list.JSON200.Orders) != 1 || list.JSON200.Orders[0].Id != o.Id {
		t.Errorf("filled orders = %s; want exactly the first order", list.Body)
	}
}
