package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
	"github.com/ordergate/ordergate/ports"
)

// TestPostgresConcurrentClaimsKeepThePerEndpointLimit has eight senders on
// two handles claim and deliver the deliveries of three endpoints at once,
// with at most 4 leased per endpoint: at no moment does an endpoint hold
// more than 4 leases, and every delivery is claimed exactly once.
func TestPostgresConcurrentClaimsKeepThePerEndpointLimit(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	dbs := []*store.DB{storetest.MustOpen(t, dsn), storetest.MustOpen(t, dsn)}
	for i := range 3 {
		mustWebhook(t, dbs[0], testAccount, t0.Add(time.Duration(i)*time.Second))
	}
	const orders, per = 60, 4
	for i := range orders {
		mustCreate(t, dbs[0], newOrder(t, t0.Add(time.Duration(i)*time.Millisecond), false))
	}
	sequence(t, dbs[0])
	now := t0.Add(time.Hour)

	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for s := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := dbs[s%2]
			owner := fmt.Sprint("sender-", s)
			for idle := 0; idle < 20; {
				ds, err := db.ClaimDeliveries(ctx, ports.DeliveryClaim{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Limit: 3, PerEndpoint: per})
				if err != nil {
					errs <- err
					return
				}
				if len(ds) == 0 {
					idle++
					time.Sleep(time.Millisecond)
					continue
				}
				idle = 0
				var leased []struct {
					WebhookID string `bun:"webhook_id"`
					N         int    `bun:"n"`
				}
				if err := db.Bun().NewRaw("SELECT webhook_id, count(*) AS n FROM webhook_deliveries WHERE lease_until >= ? GROUP BY webhook_id", now).Scan(ctx, &leased); err != nil {
					errs <- err
					return
				}
				for _, l := range leased {
					if l.N > per {
						errs <- fmt.Errorf("endpoint %s holds %d leases; want at most %d", l.WebhookID, l.N, per)
					}
				}
				mu.Lock()
				for _, d := range ds {
					claimed[fmt.Sprint(d.Webhook.ID, "/", d.Event.ID)]++
				}
				mu.Unlock()
				for _, d := range ds {
					if err := db.SettleDelivery(ctx, d, ports.DeliveryOutcome{Result: ports.Delivered, At: now}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimed) != 3*orders {
		t.Errorf("%d deliveries claimed; want %d", len(claimed), 3*orders)
	}
	for k, n := range claimed {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times; want once", k, n)
		}
	}
	if n := count(t, dbs[0], "webhook_deliveries"); n != 0 {
		t.Errorf("%d deliveries left; want 0", n)
	}
}
