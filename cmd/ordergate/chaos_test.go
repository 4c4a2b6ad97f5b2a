package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
)

// targets is the set of instances a load sends to, each with its key;
// killed ones are removed.
type targets struct {
	mu   sync.Mutex
	live map[int]target
	next int
}

func newTargets(ps ...*process) *targets {
	ts := &targets{live: map[int]target{}}
	for i, p := range ps {
		ts.live[i] = p.target()
	}
	return ts
}

// set makes instance i tg; a zero target removes it.
func (ts *targets) set(i int, tg target) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if tg.base == "" {
		delete(ts.live, i)
	} else {
		ts.live[i] = tg
	}
}

// pick returns the next live instance, round robin, or a zero target if
// none is up.
func (ts *targets) pick() target {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.live) == 0 {
		return target{}
	}
	ts.next++
	var live []target
	for i := 0; len(live) < len(ts.live); i++ {
		if tg, ok := ts.live[i]; ok {
			live = append(live, tg)
		}
	}
	return live[ts.next%len(live)]
}

// load is the outcome of sending orders.
type load struct {
	mu       sync.Mutex
	created  map[string]bool // IDs answered 201 (first or replayed)
	attempts int             // HTTP requests sent
	gaveUp   int             // orders that never got a 201
	codes    map[int]int     // answers by status code; 0 for no answer
}

// sendOrders sends n distinct orders through workers, each with its own
// Idempotency-Key, so a request lost to a crash is retried on any instance
// without placing the order twice. Each order is retried until it gets a 201
// or its deadline passes: the load is bounded in count and time.
func sendOrders(ts *targets, n, workers int, perOrder time.Duration) *load {
	l := &load{created: map[string]bool{}, codes: map[int]int{}}
	client := &http.Client{Timeout: 5 * time.Second}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				body := fmt.Sprintf(`{"type":"market","side":"buy","instrument":"US0378331005","quantity":%d}`, i+1)
				deadline := time.Now().Add(perOrder)
				for {
					id, code := postOnce(client, ts.pick(), fmt.Sprintf("chaos-%d", i), body)
					ok := code == http.StatusCreated && id != ""
					l.mu.Lock()
					l.attempts++
					l.codes[code]++
					if ok {
						l.created[id] = true
					}
					l.mu.Unlock()
					if ok {
						break
					}
					if time.Now().After(deadline) {
						l.mu.Lock()
						l.gaveUp++
						l.mu.Unlock()
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return l
}

// postOnce sends one order with an Idempotency-Key and returns the new
// order's ID (on a 201) and the status code, 0 if no answer came.
func postOnce(client *http.Client, tg target, key, body string) (string, int) {
	if tg.base == "" {
		return "", 0
	}
	resp, err := tg.send(client, http.MethodPost, "/orders", strings.NewReader(body), "Idempotency-Key", key)
	if err != nil {
		return "", 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", resp.StatusCode
	}
	var o orderJSON
	if json.NewDecoder(resp.Body).Decode(&o) != nil {
		return "", resp.StatusCode
	}
	return o.ID, resp.StatusCode
}

// allOrders pages through GET /orders: the orders of tg's key's account.
func allOrders(t *testing.T, tg target) map[string]orderJSON {
	t.Helper()
	out := map[string]orderJSON{}
	url := "/orders?limit=500"
	for {
		resp := tg.do(t, http.MethodGet, url, nil)
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("GET %s = %d %s", url, resp.StatusCode, b)
		}
		var pg page
		err := json.NewDecoder(resp.Body).Decode(&pg)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range pg.Orders {
			out[o.ID] = o
		}
		if pg.NextCursor == nil {
			return out
		}
		url = "/orders?limit=500&cursor=" + *pg.NextCursor
	}
}

func pendingCount(t *testing.T, tg target) int {
	t.Helper()
	n := 0
	for _, o := range allOrders(t, tg) {
		if o.Status == "pending" {
			n++
		}
	}
	return n
}

func simStats(t *testing.T, sim *process) exchange.StatsResponse {
	t.Helper()
	resp, err := http.Get(sim.url("/stats"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s exchange.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkInvariants is what every fault test must end with: every order that
// got a 201 is stored and placed, the exchange placed each stored order
// exactly once, and nothing else was stored but orders whose client gave up.
func checkInvariants(t *testing.T, tg target, sim *process, l *load) {
	t.Helper()
	stored := allOrders(t, tg)
	for id := range l.created {
		o, ok := stored[id]
		if !ok {
			t.Errorf("order %s got a 201 but is not stored", id)
			continue
		}
		if !acknowledged(o.Status) {
			t.Errorf("order %s is %s; want acknowledged by the exchange (placed, or filling)", id, o.Status)
		}
	}
	if extra := len(stored) - len(l.created); extra < 0 || extra > l.gaveUp {
		t.Errorf("%d orders stored, %d got a 201, %d given up: stored orders unaccounted for", len(stored), len(l.created), l.gaveUp)
	}
	stats := simStats(t, sim)
	for id := range stored {
		if n := stats.Placements[id]; n != 1 {
			t.Errorf("exchange placed order %s %d times; want exactly once", id, n)
		}
	}
	if int(stats.Placed) != len(stored) {
		t.Errorf("exchange placed %d orders; %d are stored", stats.Placed, len(stored))
	}
	t.Logf("figures: %d orders sent (%d HTTP requests), %d answered 201, %d given up, %d stored, %d placed at the exchange, %d deduplicated repeat calls, %d exchange failures",
		len(l.created)+l.gaveUp, l.attempts, len(l.created), l.gaveUp, len(stored), stats.Placed, stats.Duplicates, stats.Failures)
}

func waitDrained(t *testing.T, tg target, limit time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	waitUntil(t, limit, "every order to be placed", func() bool { return pendingCount(t, tg) == 0 })
	return time.Since(began)
}

// fastFailover shortens leases and backoff so a killed instance's jobs are
// taken over within seconds.
var fastFailover = []string{"--exchange-timeout", "1s", "--lease", "2s", "--retry-base", "20ms", "--retry-max", "200ms", "--breaker-open", "200ms", "--dispatch-concurrency", "32", "--shutdown-grace", "2s"}

// TestChaosThreeInstancesOnePostgresWithAKill is issue 3's many-instances
// proof: three ordergate processes in the three roles (all, api,
// dispatcher) share one PostgreSQL database and one exchange-sim; the one
// that both serves and dispatches is SIGKILLed mid-load and restarted.
func TestChaosThreeInstancesOnePostgresWithAKill(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	sim := startSim(t, "--latency", "20ms", "--failure-rate", "0.1")
	args := func(role string) []string {
		return append([]string{"--db", dsn, "--exchange", sim.url(""), "--role", role}, fastFailover...)
	}
	insts := []*process{start(t, args("all")...), start(t, args("api")...), start(t, args("dispatcher")...)}
	ts := newTargets(insts[0], insts[1]) // the dispatcher-only instance serves no orders
	if code := status(t, insts[2], "/readyz"); code != 200 {
		t.Fatalf("dispatcher instance /readyz = %d; want 200", code)
	}

	const orders = 600
	done := make(chan *load)
	go func() { done <- sendOrders(ts, orders, 12, 30*time.Second) }()

	// Kill the all-role instance once a quarter of the load is in (it holds
	// leases on jobs then), restart it at half.
	var lastKill time.Time
	killed, restarted := false, false
	l := during(done, func() {
		n := countOrders(insts[1])
		if !killed && n >= orders/4 {
			insts[0].kill()
			ts.set(0, target{})
			lastKill, killed = time.Now(), true
		}
		if killed && !restarted && n >= orders/2 {
			insts[0] = start(t, args("all")...)
			ts.set(0, insts[0].target())
			restarted = true
		}
	})
	if !killed || !restarted {
		t.Fatalf("the load finished before the kill (killed %v, restarted %v)", killed, restarted)
	}
	drain := waitDrained(t, insts[1].target(), 60*time.Second)
	t.Logf("instances: 3 (all, api, dispatcher), killed: 1; drained %s after the load, %s after the kill", drain.Round(time.Millisecond), time.Since(lastKill).Round(time.Millisecond))
	checkInvariants(t, insts[1].target(), sim, l)
}

// during calls step every 5 ms until the load running in the background
// sends its result on done, and returns that result: the faults a test
// injects happen in step, while the load runs.
func during[T any](done <-chan T, step func()) T {
	watch := time.NewTicker(5 * time.Millisecond)
	defer watch.Stop()
	for {
		select {
		case l := <-done:
			return l
		case <-watch.C:
			step()
		}
	}
}

// countOrders is how many orders an instance shows the account of its key,
// -1 if it does not answer.
func countOrders(p *process) int {
	resp, err := p.target().send(http.DefaultClient, http.MethodGet, "/orders?limit=500", nil)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Count(string(b), `"id":`)
}

// TestChaosRepeatedKillsOnSQLite SIGKILLs the single binary three times
// during a load on one SQLite file.
func TestChaosRepeatedKillsOnSQLite(t *testing.T) {
	db := storetest.SQLitePath(t)
	sim := startSim(t, "--latency", "20ms", "--failure-rate", "0.1")
	args := append([]string{"--db", db, "--exchange", sim.url("")}, fastFailover...)
	p := start(t, args...)
	ts := newTargets(p)

	const orders = 400
	done := make(chan *load)
	go func() { done <- sendOrders(ts, orders, 8, 30*time.Second) }()

	kills := 0
	l := during(done, func() {
		if kills < 3 && countOrders(p) >= (kills+1)*orders/5 {
			p.kill()
			ts.set(0, target{})
			kills++
			p = start(t, args...)
			ts.set(0, p.target())
		}
	})
	if kills != 3 {
		t.Fatalf("killed %d times before the load ended; want 3", kills)
	}
	drain := waitDrained(t, p.target(), 60*time.Second)
	t.Logf("kills: %d; drained %s after the load", kills, drain.Round(time.Millisecond))
	checkInvariants(t, p.target(), sim, l)
}

// TestChaosSIGTERMUnderLoad shows a graceful stop loses no accepted order
// and leaves no job leased.
func TestChaosSIGTERMUnderLoad(t *testing.T) {
	db := storetest.SQLitePath(t)
	sim := startSim(t, "--latency", "200ms", "--failure-rate", "0")
	p := start(t, append([]string{"--db", db, "--exchange", sim.url("")}, fastFailover...)...)
	ts := newTargets(p)

	done := make(chan *load)
	go func() { done <- sendOrders(ts, 2000, 8, 0) }()
	waitUntil(t, 30*time.Second, "some orders in flight", func() bool { return countOrders(p) >= 100 })
	ts.set(0, target{}) // new requests stop; those under way finish
	p.stop()            // SIGTERM, exit 0 required
	l := <-done

	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var stored int
	for id := range l.created {
		var n int
		if err := st.Bun().NewRaw("SELECT count(*) FROM orders WHERE id = ?", id).Scan(ctx, &n); err != nil {
			t.Fatal(err)
		}
		stored += n
	}
	if stored != len(l.created) {
		t.Errorf("%d of %d accepted orders are stored after SIGTERM", stored, len(l.created))
	}
	var leased int
	if err := st.Bun().NewRaw("SELECT count(*) FROM jobs WHERE lease_owner IS NOT NULL").Scan(ctx, &leased); err != nil {
		t.Fatal(err)
	}
	if leased != 0 {
		t.Errorf("%d jobs still leased after a graceful stop; want 0", leased)
	}
	var jobs int
	_ = st.Bun().NewRaw("SELECT count(*) FROM jobs").Scan(ctx, &jobs)
	t.Logf("accepted %d orders before SIGTERM; all stored; %d still pending, none leased", len(l.created), jobs)
}
