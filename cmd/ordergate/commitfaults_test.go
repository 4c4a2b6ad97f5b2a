package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
)

// TestAPIAnswersTheTruthWhenCommitAnswersAreLost sends concurrent orders
// through the real HTTP API while a proxy between ordergate and PostgreSQL
// drops the answers to COMMIT: every order is committed, so every request
// gets a 201 (never a 409, never a 500), with and without Idempotency-Key.
func TestAPIAnswersTheTruthWhenCommitAnswersAreLost(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	px, proxied := storetest.NewFaultProxy(t, dsn)
	// The API role alone: no dispatcher commits through the proxy meanwhile.
	api := startInProcess(t, []string{"--db", proxied, "--role", "api"})

	post := func(key string, i int) (int, string, string) {
		var header []string
		if key != "" {
			header = []string{"Idempotency-Key", key}
		}
		resp, err := api.send(http.DefaultClient, http.MethodPost, "/orders",
			strings.NewReader(fmt.Sprintf(`{"type":"market","side":"buy","instrument":"US0378331005","quantity":%d}`, i+1)), header...)
		if err != nil {
			t.Error(err)
			return 0, "", ""
		}
		defer resp.Body.Close()
		var o orderJSON
		_ = json.NewDecoder(resp.Body).Decode(&o)
		return resp.StatusCode, o.ID, resp.Header.Get("Idempotent-Replayed")
	}
	const n = 40
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) {
			faults := px.Faults()
			px.DropCommitReplies(3)
			ids := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := ""
					if keyed {
						key = fmt.Sprintf("lost-answer-%d", i)
					}
					code, id, replayed := post(key, i)
					if code != http.StatusCreated || replayed != "" {
						t.Errorf("POST %d = %d (Idempotent-Replayed %q); want 201, created", i, code, replayed)
					}
					ids[i] = id
				}()
			}
			wg.Wait()
			if px.Faults() == faults {
				t.Fatal("no commit answer was dropped: the test tested nothing")
			}
			if keyed {
				for i := range n {
					if code, id, replayed := post(fmt.Sprintf("lost-answer-%d", i), i); code != http.StatusCreated || id != ids[i] || replayed != "true" {
						t.Errorf("repeat %d = %d %s replayed %q; want 201 %s replayed", i, code, id, replayed, ids[i])
					}
				}
			}
			ctx := context.Background()
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for i, id := range ids {
				var orders, jobs int
				_ = st.Bun().NewRaw("SELECT count(*) FROM orders WHERE id = ?", id).Scan(ctx, &orders)
				_ = st.Bun().NewRaw("SELECT count(*) FROM jobs WHERE order_id = ?", id).Scan(ctx, &jobs)
				if orders != 1 || jobs != 1 {
					t.Errorf("order %d (%s) answered 201: %d stored with %d jobs; want 1 and 1", i, id, orders, jobs)
				}
			}
		})
	}
}

// TestChaosLostCommitAnswersOnPostgres runs the whole binary against
// PostgreSQL through a proxy that keeps dropping the answer to a COMMIT,
// whichever write it ends (creates, keyed creates, claims, settles), while
// clients send keyed orders and retry any answer but a 201. Afterwards no
// request was answered 409, every order is stored once and placed once at
// the exchange, and a graceful stop leaves no job leased.
func TestChaosLostCommitAnswersOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	px, proxied := storetest.NewFaultProxy(t, dsn)
	sim := startSim(t, "--latency", "20ms", "--failure-rate", "0.1")
	args := func(db string) []string {
		return append([]string{"--db", db, "--exchange", sim.url("")}, fastFailover...)
	}
	p := start(t, args(proxied)...)

	// One dropped commit answer every 10 ms, bounded by the load's length.
	stop := make(chan struct{})
	var lastFault atomic.Int64
	faulted := make(chan struct{})
	go func() {
		defer close(faulted)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				px.DropCommitReplies(1)
				lastFault.Store(time.Now().UnixNano())
			}
		}
	}()
	l := sendOrders(newTargets(p), 600, 8, 30*time.Second)
	close(stop)
	<-faulted
	px.DropCommitReplies(0)

	if l.codes[http.StatusConflict] > 0 {
		t.Errorf("%d requests answered 409; POST /orders never answers 409", l.codes[http.StatusConflict])
	}
	for code, count := range l.codes {
		if code != http.StatusCreated && code != http.StatusInternalServerError {
			t.Errorf("%d requests answered %d; want only 201 (or 500, retried with the key)", count, code)
		}
	}

	// Leases written before the last fault may belong to writes that
	// failed twice; they run out after --lease (2 s). Then a graceful stop
	// must leave nothing leased.
	time.Sleep(time.Until(time.Unix(0, lastFault.Load()).Add(2500 * time.Millisecond)))
	p.stop()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var leased int
	if err := st.Bun().NewRaw("SELECT count(*) FROM jobs WHERE lease_owner IS NOT NULL AND due_at > now()").Scan(ctx, &leased); err != nil {
		t.Fatal(err)
	}
	if leased != 0 {
		t.Errorf("%d jobs leased by a stopped instance; want 0", leased)
	}

	p = start(t, args(dsn)...)
	drain := waitDrained(t, p.target(), 60*time.Second)
	t.Logf("commit answers dropped: %d of %d commits; answers by status: %v; drained %s after the restart",
		px.Faults(), px.Commits(), l.codes, drain.Round(time.Millisecond))
	checkInvariants(t, p.target(), sim, l)
}
