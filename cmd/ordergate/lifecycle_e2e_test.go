package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
	"github.com/ordergate/ordergate/domain"
)

// faultyFeed makes exchange-sim's feed duplicate 5 % of its reports, drop
// 2 %, reorder them within windows of 8 and disconnect every 300, and
// makes its orders quick: fills within 300 ms, resting orders expire after
// 2 s, cancels take 50 ms.
var faultyFeed = []string{
	"--latency", "20ms", "--failure-rate", "0.1", "--fill-time", "300ms", "--order-ttl", "2s", "--cancel-delay", "50ms",
	"--feed-duplicate", "0.05", "--feed-drop", "0.02", "--feed-reorder", "8", "--feed-disconnect-every", "300",
}

// fillJSON is a fill as GET /orders/{id}/fills returns it.
type fillJSON struct {
	ExecID     string      `json:"exec_id"`
	Quantity   int64       `json:"quantity"`
	Price      json.Number `json:"price"`
	ExecutedAt time.Time   `json:"executed_at"`
}

// lifecycleLoad is what a lifecycle load did.
type lifecycleLoad struct {
	mu       sync.Mutex
	ids      []string
	canceled map[string]int // cancel requests' status codes by order
}

// sendLifecycle sends n orders, a third each market, marketable limit and
// resting limit, through workers, and cancels every fourth at a random
// moment within 600 ms of its 201. Each order is keyed and retried until it
// gets a 201 or 30 s pass. base says where to send each request.
func sendLifecycle(t *testing.T, base func() target, n, workers int) *lifecycleLoad {
	t.Helper()
	l := &lifecycleLoad{canceled: map[string]int{}}
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range next {
				var body string
				switch i % 3 {
				case 0:
					body = fmt.Sprintf(`{"type":"market","side":"buy","instrument":"US0378331005","quantity":%d}`, 1+i%17)
				case 1:
					body = fmt.Sprintf(`{"type":"limit","side":"sell","instrument":"DE000BASF111","limit_price":99.50,"quantity":%d}`, 1+i%13)
				default:
					body = fmt.Sprintf(`{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":95.00,"quantity":%d}`, 1+i%11)
				}
				var id string
				deadline := time.Now().Add(30 * time.Second)
				for id == "" && time.Now().Before(deadline) {
					if got, code := postOnce(client, base(), fmt.Sprintf("lifecycle-%d", i), body); code == http.StatusCreated {
						id = got
					} else {
						time.Sleep(20 * time.Millisecond)
					}
				}
				if id == "" {
					t.Errorf("order %d got no 201 in 30 s", i)
					continue
				}
				l.mu.Lock()
				l.ids = append(l.ids, id)
				l.mu.Unlock()
				if i%4 == 0 {
					time.Sleep(time.Duration(rng.IntN(600)) * time.Millisecond)
					code := deleteOrder(t, client, base, id)
					l.mu.Lock()
					l.canceled[id] = code
					l.mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return l
}

// deleteOrder cancels the order, asking again (cancels are idempotent)
// until an answer other than a 500 comes or 30 s pass.
func deleteOrder(t *testing.T, client *http.Client, base func() target, id string) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := base().send(client, http.MethodDelete, "/orders/"+id, nil)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			return resp.StatusCode
		}
	}
	t.Errorf("DELETE /orders/%s got no answer in 30 s", id)
	return 0
}

// ordergateView is an order as ordergate reports it: the order and its
// fills.
type ordergateView struct {
	orderJSON
	Fills []fillJSON
}

// getJSON GETs path from tg and decodes a 200's body into v.
func getJSON(tg target, path string, v any) (int, error) {
	resp, err := tg.send(http.DefaultClient, http.MethodGet, path, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

func viewOf(t *testing.T, tg target, id string) ordergateView {
	t.Helper()
	var v ordergateView
	if code, err := getJSON(tg, "/orders/"+id, &v.orderJSON); code != http.StatusOK || err != nil {
		t.Fatalf("GET /orders/%s = %d, %v", id, code, err)
	}
	var fills struct {
		Fills []fillJSON `json:"fills"`
	}
	if code, err := getJSON(tg, "/orders/"+id+"/fills", &fills); code != http.StatusOK || err != nil {
		t.Fatalf("GET /orders/%s/fills = %d, %v", id, code, err)
	}
	v.Fills = fills.Fills
	return v
}

// venueRecord returns exchange-sim's own record of the order; false if the
// venue never saw it.
func venueRecord(t *testing.T, sim *process, id string) (exchange.VenueOrder, bool) {
	t.Helper()
	var o exchange.VenueOrder
	code, err := getJSON(sim.target(), "/orders/"+id, &o)
	switch {
	case code == http.StatusNotFound:
		return o, false
	case code != http.StatusOK || err != nil:
		t.Fatalf("exchange-sim GET /orders/%s = %d, %v", id, code, err)
	}
	return o, true
}

// compareWithVenue waits until every order has ended at ordergate, then
// holds each to the venue's own record: the same status, filled quantity
// and fills, none twice. It returns how many orders ended in each status.
func compareWithVenue(t *testing.T, tg target, sim *process, l *lifecycleLoad) map[string]int {
	t.Helper()
	waitUntil(t, 90*time.Second, "every order to end", func() bool {
		for _, o := range allOrders(t, tg) {
			if !domain.Status(o.Status).Terminal() {
				return false
			}
		}
		return true
	})
	ended := map[string]int{}
	mismatches := 0
	for _, id := range l.ids {
		v := viewOf(t, tg, id)
		ended[v.Status]++
		rec, seen := venueRecord(t, sim, id)
		if !seen {
			// Canceled before its placement was sent: the venue never saw it.
			if v.Status != "canceled" || v.FilledQuantity != 0 || len(v.Fills) != 0 {
				t.Errorf("order %s unknown at the venue but %s with %d filled", id, v.Status, v.FilledQuantity)
				mismatches++
			}
			continue
		}
		want := make([]fillJSON, len(rec.Executions))
		for i, f := range rec.Executions {
			want[i] = fillJSON{ExecID: f.ExecID, Quantity: f.Quantity, Price: json.Number(f.Price.String())}
		}
		got := slices.Clone(v.Fills)
		for i := range got {
			p, err := domain.ParsePrice(string(got[i].Price))
			if err != nil {
				t.Fatalf("fill price %q: %v", got[i].Price, err)
			}
			got[i].Price, got[i].ExecutedAt = json.Number(p.String()), time.Time{}
		}
		slices.SortFunc(got, func(a, b fillJSON) int { return strings.Compare(a.ExecID, b.ExecID) })
		slices.SortFunc(want, func(a, b fillJSON) int { return strings.Compare(a.ExecID, b.ExecID) })
		if v.Status != string(rec.Status) || v.FilledQuantity != rec.CumQty || !slices.Equal(got, want) {
			t.Errorf("order %s: ordergate %s, %d filled, fills %v; venue %s, %d filled, fills %v", id, v.Status, v.FilledQuantity, got, rec.Status, rec.CumQty, want)
			mismatches++
		}
	}
	t.Logf("orders compared with the venue: %d, mismatches: %d, ended: %v", len(l.ids), mismatches, ended)
	return ended
}

// feedFigures reads the ingestion counters from ordergate's /metrics.
func feedFigures(t *testing.T, ps ...*process) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, p := range ps {
		resp, err := http.Get(p.url("/metrics"))
		if err != nil {
			continue // a killed instance's counters died with it
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			for _, name := range []string{"ordergate_execution_reports_received_total", "ordergate_execution_reports_applied_total", "ordergate_feed_events_total"} {
				if strings.HasPrefix(line, name) {
					var v float64
					key, val, _ := strings.Cut(line, " ")
					if _, err := fmt.Sscan(val, &v); err != nil {
						t.Errorf("metric %s: %v", line, err)
					}
					out[key] += v
				}
			}
		}
	}
	return out
}

// checkNoReportLost holds the database to the venue's log: the position is
// the venue's last report, and every report is stored once (applied or,
// for an unknown order, kept aside).
func checkNoReportLost(t *testing.T, dsn string, sim *process) {
	t.Helper()
	var stats struct {
		Reports int64 `json:"reports"`
	}
	if code, err := getJSON(sim.target(), "/stats", &stats); code != http.StatusOK || err != nil {
		t.Fatalf("exchange-sim /stats = %d, %v", code, err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var execs, aside, last int64
	for q, v := range map[string]*int64{
		"SELECT count(*) FROM executions":                       &execs,
		"SELECT count(*) FROM unknown_reports":                  &aside,
		"SELECT coalesce(max(last_seq), 0) FROM feed_positions": &last,
	} {
		if err := db.Bun().NewRaw(q).Scan(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if execs+aside != stats.Reports || last != stats.Reports {
		t.Errorf("venue sent %d reports; ordergate stored %d and kept %d aside, position %d: a report was lost or stored twice", stats.Reports, execs, aside, last)
	}
	t.Logf("venue reports: %d; stored: %d; kept aside: %d; position: %d", stats.Reports, execs, aside, last)
}

func TestLifecycleEndToEndSQLite(t *testing.T) {
	testLifecycleEndToEnd(t, storetest.SQLitePath(t))
}

func TestLifecycleEndToEndPostgres(t *testing.T) {
	testLifecycleEndToEnd(t, storetest.PostgresDSN(t))
}

// testLifecycleEndToEnd runs ordergate against exchange-sim with a faulty
// feed: 500 orders of every kind, a quarter canceled at random moments.
// Every order ends as the venue's own record says, fill for fill.
func testLifecycleEndToEnd(t *testing.T, dsn string) {
	sim := startSim(t, faultyFeed...)
	p := start(t, append([]string{"--db", dsn, "--exchange", sim.url("")}, fastFailover...)...)
	l := sendLifecycle(t, p.target, 500, 12)
	ended := compareWithVenue(t, p.target(), sim, l)
	checkNoReportLost(t, dsn, sim)
	for _, s := range []string{"filled", "canceled", "expired"} {
		if ended[s] == 0 {
			t.Errorf("no order ended %s: the load does not cover the lifecycle", s)
		}
	}
	t.Logf("feed: %v", feedFigures(t, p))
}

// TestLifecycleSurvivesKillsOnSQLite SIGKILLs the one binary three times
// while orders flow and the feed misbehaves; clients retry with their
// keys. Every order still ends as the venue says, and no report is lost or
// applied twice.
func TestLifecycleSurvivesKillsOnSQLite(t *testing.T) {
	dsn := storetest.SQLitePath(t)
	sim := startSim(t, faultyFeed...)
	args := append([]string{"--db", dsn, "--exchange", sim.url("")}, fastFailover...)
	var mu sync.Mutex
	p := start(t, args...)
	base := func() target { mu.Lock(); defer mu.Unlock(); return p.target() }
	done := make(chan *lifecycleLoad)
	go func() { done <- sendLifecycle(t, base, 500, 12) }()
	kills := 0
	l := during(done, func() {
		if kills < 3 && countOrders(p) >= (kills+1)*100 {
			p.kill()
			kills++
			np := start(t, args...)
			mu.Lock()
			p = np
			mu.Unlock()
		}
	})
	if kills != 3 {
		t.Fatalf("killed %d times before the load ended; want 3", kills)
	}
	compareWithVenue(t, p.target(), sim, l)
	checkNoReportLost(t, dsn, sim)
	t.Logf("kills: %d; feed (last instance): %v", kills, feedFigures(t, p))
}

// TestLifecycleStandbyIngestersOnPostgres runs the roles apart on one
// PostgreSQL (api, dispatcher, two ingesters) and SIGKILLs the active
// ingester three times mid-stream, starting a new standby each time: a
// standby takes over within seconds, and every order still ends as the
// venue says.
func TestLifecycleStandbyIngestersOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	sim := startSim(t, faultyFeed...)
	args := func(role string) []string {
		return append([]string{"--db", dsn, "--exchange", sim.url(""), "--role", role}, fastFailover...)
	}
	api := start(t, args("api")...)
	start(t, args("dispatcher")...)
	ingesters := []*process{start(t, args("ingester")...), start(t, args("ingester")...)}
	done := make(chan *lifecycleLoad)
	// Enough orders that the stream outlasts three takeovers of a few
	// seconds each.
	go func() { done <- sendLifecycle(t, api.target, 1200, 12) }()

	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// active returns the ingester holding the lease, once one does.
	active := func() *process {
		var owner string
		_ = db.Bun().NewRaw("SELECT owner FROM leases WHERE name LIKE 'ingester:%' AND expires_at > now()").Scan(ctx, &owner)
		for _, in := range ingesters {
			if strings.Contains(owner, fmt.Sprintf(":%d:", in.Pid())) {
				return in
			}
		}
		return nil
	}
	var takeovers []time.Duration
	l := during(done, func() {
		if len(takeovers) == 3 || countOrders(api) < (len(takeovers)+1)*150 {
			return
		}
		victim := active()
		if victim == nil {
			return
		}
		victim.kill()
		killed := time.Now()
		ingesters = slices.DeleteFunc(ingesters, func(p *process) bool { return p == victim })
		waitUntil(t, 15*time.Second, "a standby to take the lease over", func() bool { return active() != nil })
		takeovers = append(takeovers, time.Since(killed))
		ingesters = append(ingesters, start(t, args("ingester")...))
	})
	if len(takeovers) != 3 {
		t.Fatalf("%d active ingesters killed before the load ended; want 3", len(takeovers))
	}
	compareWithVenue(t, api.target(), sim, l)
	checkNoReportLost(t, dsn, sim)
	t.Logf("standby takeovers after SIGKILL: %v; feed (live ingesters): %v", takeovers, feedFigures(t, ingesters...))
}

// TestCancelEndToEnd cancels orders at every stage through the real
// binaries: before the placement was sent (canceled at once, the venue
// never sees it), while resting (canceled by the venue), racing the fills
// of a market order (ends filled or canceled, as the venue says), once
// filled (409), and twice (202 both times).
func TestCancelEndToEnd(t *testing.T) {
	dsn := storetest.SQLitePath(t)
	sim := startSim(t, "--latency", "20ms", "--failure-rate", "0", "--fill-time", "300ms", "--order-ttl", "1h", "--cancel-delay", "50ms")
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(p *process, body string) string {
		t.Helper()
		id, code := postOnce(client, p.target(), fmt.Sprint(time.Now().UnixNano()), body)
		if code != http.StatusCreated {
			t.Fatalf("POST /orders = %d", code)
		}
		return id
	}
	cancel := func(p *process, id string) (int, orderJSON) {
		t.Helper()
		resp, err := p.target().send(client, http.MethodDelete, "/orders/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var o orderJSON
		_ = json.NewDecoder(resp.Body).Decode(&o)
		return resp.StatusCode, o
	}
	const (
		market  = `{"type":"market","side":"buy","instrument":"US0378331005","quantity":30}`
		resting = `{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":90.00,"quantity":5}`
	)

	// Before the placement was ever sent: an API-only instance, no dispatcher.
	apiOnly := start(t, "--db", dsn, "--exchange", sim.url(""), "--role", "api")
	early := post(apiOnly, resting)
	if code, o := cancel(apiOnly, early); code != http.StatusAccepted || o.Status != "canceled" {
		t.Errorf("cancel before placement = %d %s; want 202 canceled", code, o.Status)
	}
	apiOnly.stop()

	p := start(t, append([]string{"--db", dsn, "--exchange", sim.url("")}, fastFailover...)...)
	placed := func(id string) {
		waitUntil(t, 10*time.Second, "order "+id+" acknowledged", func() bool { return getOrder(t, p, id).Status != "pending" })
	}
	ended := func(id string) orderJSON {
		var o orderJSON
		waitUntil(t, 10*time.Second, "order "+id+" to end", func() bool {
			o = getOrder(t, p, id)
			return domain.Status(o.Status).Terminal()
		})
		return o
	}

	// Resting, canceled twice: 202 both times, canceled by the venue.
	rest := post(p, resting)
	placed(rest)
	first, o1 := cancel(p, rest)
	second, o2 := cancel(p, rest)
	if first != http.StatusAccepted || second != http.StatusAccepted || o1.Status != "pending_cancel" || (o2.Status != "pending_cancel" && o2.Status != "canceled") {
		t.Errorf("cancel twice = %d %s, %d %s; want 202 pending_cancel, then 202 again", first, o1.Status, second, o2.Status)
	}
	if o := ended(rest); o.Status != "canceled" || o.FilledQuantity != 0 {
		t.Errorf("resting order ended %s with %d filled; want canceled, 0", o.Status, o.FilledQuantity)
	}

	// Racing the fills of market orders: each ends as the venue says.
	outcomes := map[string]int{}
	for i := range 12 {
		id := post(p, market)
		placed(id)
		// The fills come within 300 ms of the acknowledgement: cancels sent
		// at moments across it meet them at every stage.
		time.Sleep(time.Duration(i) * 30 * time.Millisecond)
		if code, _ := cancel(p, id); code != http.StatusAccepted && code != http.StatusConflict {
			t.Errorf("cancel racing fills = %d; want 202 (or 409 once filled)", code)
		}
		o := ended(id)
		rec, _ := venueRecord(t, sim, id)
		if o.Status != string(rec.Status) || o.FilledQuantity != rec.CumQty || (o.Status == "filled") == (o.FilledQuantity < 30) {
			t.Errorf("race: ordergate %s with %d filled; venue %s with %d", o.Status, o.FilledQuantity, rec.Status, rec.CumQty)
		}
		outcomes[o.Status]++
	}
	t.Logf("cancels racing fills ended: %v", outcomes)

	// Filled: 409, a problem document, and the order unchanged.
	full := post(p, market)
	if o := ended(full); o.Status != "filled" {
		t.Fatalf("market order ended %s; want filled", o.Status)
	}
	resp, err := p.target().send(client, http.MethodDelete, "/orders/"+full, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("cancel of a filled order = %d %s %s; want 409 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}

	// The order canceled before its placement never reached the venue.
	if _, seen := venueRecord(t, sim, early); seen {
		t.Errorf("order %s was canceled before its placement, yet the venue has it", early)
	}
	if o := getOrder(t, p, early); o.Status != "canceled" {
		t.Errorf("early-canceled order is %s; want canceled", o.Status)
	}
}
