package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// eventJSON is an event's data object, on the stream and in webhooks.
type eventJSON struct {
	EventID    int64     `json:"event_id"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurred_at"`
	Order      orderJSON `json:"order"`
	Fill       *fillJSON `json:"fill"`
}

// sseEvent is one event read from GET /events: its id and event fields
// and its data.
type sseEvent struct {
	ID   int64
	Type string
	Data eventJSON
}

// streamClient reads an account's GET /events, disconnects at random
// moments and resumes with Last-Event-ID, keeping every event it got.
type streamClient struct {
	tg  target
	rng *rand.Rand

	mu         sync.Mutex
	got        []sseEvent
	last       int64
	reconnects int
	err        error
}

// run reads until ctx ends. Each connection reads a random number of
// events (1 to 40) or for a random time (up to 300 ms) before it hangs up.
func (c *streamClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		if !c.reconnect(ctx) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(c.rng.IntN(50)) * time.Millisecond):
		}
	}
}

var errStreamGone = errors.New("410 from GET /events")

// reconnect reads one connection and counts it; false once the stream
// answered 410, which it keeps as the client's error.
func (c *streamClient) reconnect(ctx context.Context) bool {
	err := c.connection(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(err, errStreamGone) {
		c.err = err
		return false
	}
	c.reconnects++
	return true
}

// connection reads one connection of the stream.
func (c *streamClient) connection(ctx context.Context) error {
	c.mu.Lock()
	last := c.last
	quota := 1 + c.rng.IntN(40)
	life := time.Duration(20+c.rng.IntN(280)) * time.Millisecond
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, life)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.tg.base+"/events", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.tg.key)
	req.Header.Set("Accept", "text/event-stream")
	if last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusGone:
		return errStreamGone
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET /events = %d", resp.StatusCode)
	}
	return readSSE(resp.Body, func(e sseEvent) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got = append(c.got, e)
		c.last = e.ID
		quota--
		return quota > 0
	})
}

// readSSE parses a text/event-stream, calling fn with each event until fn
// returns false or the stream ends. Comment lines are skipped.
func readSSE(r io.Reader, fn func(sseEvent) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var e sseEvent
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() == 0 {
				continue
			}
			if err := json.Unmarshal([]byte(data.String()), &e.Data); err != nil {
				return fmt.Errorf("event %d data %q: %w", e.ID, data.String(), err)
			}
			if !fn(e) {
				return nil
			}
			e, data = sseEvent{}, strings.Builder{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			id, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "id:")), 10, 64)
			if err != nil {
				return fmt.Errorf("id line %q: %w", line, err)
			}
			e.ID = id
		case strings.HasPrefix(line, "event:"):
			e.Type = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	return sc.Err()
}

// snapshot returns what the client got so far.
func (c *streamClient) snapshot() (got []sseEvent, reconnects int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got), c.reconnects, c.err
}

// storedEvents reads account's events from the database, in ID order.
func storedEvents(t *testing.T, dsn string, account domain.Account) []domain.OrderEvent {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var all []domain.OrderEvent
	var after domain.EventID
	for range 10_000 { // bounded: at most 10 million events
		page, err := st.EventsAfter(ctx, ports.EventQuery{Account: account, After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all
		}
		after = page[len(page)-1].ID
	}
	t.Fatal("too many events")
	return nil
}

// settled reports whether every order of tg's account is in a status the
// in-process simulator leaves it in for a while: ended, or resting placed.
func settled(t *testing.T, tg target) bool {
	for _, o := range allOrders(t, tg) {
		switch domain.Status(o.Status) {
		case domain.Pending, domain.PendingCancel, domain.PartiallyFilled:
			return false
		}
	}
	return true
}

// checkStream holds what a stream client got against the account's events
// in the database: the same events one for one, in ID order, none twice;
// the event and data fields agree; and each order's last event carries
// the order as GET /orders/{id} shows it now.
func checkStream(t *testing.T, name string, got []sseEvent, stored []domain.OrderEvent, tg target) {
	t.Helper()
	if len(got) != len(stored) {
		t.Errorf("%s: the stream sent %d events; the database holds %d for the account", name, len(got), len(stored))
	}
	for i := range min(len(got), len(stored)) {
		g, s := got[i], stored[i]
		if g.ID != int64(s.ID) || g.Type != string(s.Type) || g.Data.EventID != g.ID || g.Data.Type != g.Type ||
			g.Data.Order.ID != s.Order.ID.String() || g.Data.Order.Status != string(s.Order.Status) {
			t.Fatalf("%s: event %d: streamed id %d %s (data %d %s, order %s %s); stored id %d %s, order %s %s",
				name, i, g.ID, g.Type, g.Data.EventID, g.Data.Type, g.Data.Order.ID, g.Data.Order.Status,
				s.ID, s.Type, s.Order.ID, s.Order.Status)
		}
		if (g.Data.Fill != nil) != (s.Fill != nil) {
			t.Fatalf("%s: event %d: fill %v streamed, %v stored", name, g.ID, g.Data.Fill, s.Fill)
		}
	}
	// Replaying an order's events: its fills add up to what the last event
	// says is filled, and each event's status follows from the one before
	// by the lifecycle's table (checked by the domain; here only that a
	// finished order stays finished).
	lastOf := map[string]eventJSON{}
	filled := map[string]int64{}
	for i, e := range got {
		if e.Data.Fill != nil {
			filled[e.Data.Order.ID] += e.Data.Fill.Quantity
		}
		if e.Data.Order.FilledQuantity != filled[e.Data.Order.ID] {
			t.Errorf("%s: event %d: order %s shows %d filled; its fills so far add up to %d", name, e.ID, e.Data.Order.ID, e.Data.Order.FilledQuantity, filled[e.Data.Order.ID])
		}
		if prev, seen := lastOf[e.Data.Order.ID]; seen && domain.Status(prev.Order.Status).Terminal() && e.Type != string(domain.EventPlaced) {
			t.Errorf("%s: event %d: order %s changed to %s after it ended %s", name, e.ID, e.Data.Order.ID, e.Data.Order.Status, prev.Order.Status)
		}
		if i > 0 && e.ID <= got[i-1].ID {
			t.Fatalf("%s: event %d after %d: ids not increasing", name, e.ID, got[i-1].ID)
		}
		if _, seen := lastOf[e.Data.Order.ID]; !seen && e.Type != string(domain.EventCreated) {
			t.Errorf("%s: order %s's first event is %s; want order.created", name, e.Data.Order.ID, e.Type)
		}
		lastOf[e.Data.Order.ID] = e.Data
	}
	for id, last := range lastOf {
		now := viewOf(t, tg, id)
		if last.Order.Status != now.Status || last.Order.FilledQuantity != now.FilledQuantity {
			t.Errorf("%s: order %s: its last event shows %s with %d filled; GET shows %s with %d", name, id,
				last.Order.Status, last.Order.FilledQuantity, now.Status, now.FilledQuantity)
		}
	}
}

func TestEventStreamEndToEndSQLite(t *testing.T) {
	testEventStream(t, storetest.SQLitePath(t))
}

func TestEventStreamEndToEndPostgres(t *testing.T) {
	testEventStream(t, storetest.PostgresDSN(t))
}

// testEventStream is issue 11's proof of the stream: a client of account
// alice streams GET /events while 200 of her orders go through placement,
// fills and cancels, hanging up at random moments and resuming with
// Last-Event-ID; bob streams too while his orders flow. Afterwards each
// got exactly his account's events in the database, in order, once, and
// each order's last event is the order as it stands.
func testEventStream(t *testing.T, dsn string) {
	aliceKey, bobKey := createKey(t, dsn, "alice"), createKey(t, dsn, "bob")
	p := start(t, append([]string{"--db", dsn}, quickSim...)...)
	alice, bob := p.as(aliceKey), p.as(bobKey)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clients := map[string]*streamClient{
		"alice": {tg: alice, rng: rand.New(rand.NewPCG(1, 2))},
		"bob":   {tg: bob, rng: rand.New(rand.NewPCG(3, 4))},
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.run(ctx) })
	}
	wg.Go(func() { sendLifecycle(t, func() target { return bob }, 40, 4) })
	load := sendLifecycle(t, func() target { return alice }, 200, 8)

	for name, tg := range map[string]target{"alice": alice, "bob": bob} {
		waitUntil(t, 60*time.Second, name+"'s orders to settle", func() bool { return settled(t, tg) })
	}
	stored := map[string][]domain.OrderEvent{
		"alice": storedEvents(t, dsn, "alice"),
		"bob":   storedEvents(t, dsn, "bob"),
	}
	for name, c := range clients {
		want := int64(stored[name][len(stored[name])-1].ID)
		waitUntil(t, 30*time.Second, name+"'s stream to reach the last event", func() bool {
			got, _, err := c.snapshot()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return len(got) > 0 && got[len(got)-1].ID >= want
		})
	}
	cancel()
	wg.Wait()
	for name, c := range clients {
		got, reconnects, _ := c.snapshot()
		checkStream(t, name, got, stored[name], clients[name].tg)
		t.Logf("%s: %d events streamed over %d connections, %d in the database", name, len(got), reconnects+1, len(stored[name]))
	}
	if len(load.ids) != 200 {
		t.Errorf("alice placed %d orders; want 200", len(load.ids))
	}
}

// TestEventsTwoInstancesPostgres has two instances write events at once
// into one PostgreSQL database while a client resumes its stream through
// one and then the other, alternately: no gap, no duplicate.
func TestEventsTwoInstancesPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	key := createKey(t, dsn, "alice")
	instances := []*process{
		start(t, append([]string{"--db", dsn}, quickSim...)...),
		start(t, append([]string{"--db", dsn}, quickSim...)...),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &streamClient{rng: rand.New(rand.NewPCG(5, 6))}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			c.mu.Lock()
			c.tg = instances[i%2].as(key)
			c.mu.Unlock()
			if !c.reconnect(ctx) {
				return
			}
		}
	})
	var loads sync.WaitGroup
	for _, inst := range instances {
		tg := inst.as(key)
		loads.Go(func() { sendLifecycle(t, func() target { return tg }, 100, 4) })
	}
	loads.Wait()
	waitUntil(t, 60*time.Second, "the orders to settle", func() bool { return settled(t, instances[0].as(key)) })
	stored := storedEvents(t, dsn, "alice")
	want := int64(stored[len(stored)-1].ID)
	waitUntil(t, 30*time.Second, "the stream to reach the last event", func() bool {
		got, _, err := c.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return len(got) > 0 && got[len(got)-1].ID >= want
	})
	cancel()
	wg.Wait()
	got, reconnects, _ := c.snapshot()
	checkStream(t, "alice", got, stored, instances[0].as(key))
	t.Logf("%d events from two instances streamed over %d connections alternating between them", len(got), reconnects+1)
}

// receiver is a webhook endpoint on loopback that verifies every delivery
// and can fail, hang or be down on demand.
type receiver struct {
	t      *testing.T
	ln     net.Listener
	addr   string
	secret string
	srv    *http.Server

	mu       sync.Mutex
	requests int                 // every request that came
	got      map[int64]int       // deliveries by event id
	orders   map[int64]string    // order of each event delivered
	first    map[int64]time.Time // when each event was first delivered
	bad      int                 // deliveries that did not verify
	failRate float64             // share answered 500
	hangs    int                 // deliveries still to hang past the sender's timeout
	gone     bool                // answer 410 Gone
	rng      *rand.Rand
}

// newReceiver listens on a loopback port.
func newReceiver(t *testing.T) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, ln: ln, addr: ln.Addr().String(), got: map[int64]int{}, orders: map[int64]string{},
		first: map[int64]time.Time{}, rng: rand.New(rand.NewPCG(7, 8))}
	r.serve()
	t.Cleanup(func() { r.down() })
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hook" }

func (r *receiver) serve() {
	r.srv = &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	go func(srv *http.Server, ln net.Listener) { _ = srv.Serve(ln) }(r.srv, r.ln)
}

// down closes the listener: deliveries get connection refused.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = srv.Close()
}

// up listens again on the same address.
func (r *receiver) up() {
	var err error
	for range 100 { // the port was just freed; bounded retries
		if r.ln, err = net.Listen("tcp", r.addr); err == nil {
			r.mu.Lock()
			r.serve()
			r.mu.Unlock()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("listen again on %s: %v", r.addr, err)
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	r.mu.Lock()
	hang := r.hangs > 0
	if hang {
		r.hangs--
	}
	fail := r.rng.Float64() < r.failRate
	gone := r.gone
	r.requests++
	r.mu.Unlock()
	if hang {
		// Longer than the sender's 10 s timeout, bounded by the request.
		select {
		case <-req.Context().Done():
		case <-time.After(12 * time.Second):
		}
		return
	}
	if gone {
		w.WriteHeader(http.StatusGone)
		return
	}
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var e eventJSON
	verr := domain.VerifyWebhook(r.secret, req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"), body, time.Now())
	jerr := json.Unmarshal(body, &e)
	r.mu.Lock()
	defer r.mu.Unlock()
	if verr != nil || jerr != nil || strconv.FormatInt(e.EventID, 10) != req.Header.Get("webhook-id") {
		r.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.got[e.EventID] == 0 {
		r.first[e.EventID] = time.Now()
	}
	r.got[e.EventID]++
	r.orders[e.EventID] = e.Order.ID
	w.WriteHeader(http.StatusNoContent)
}

// delivered returns the ids of the events delivered at least once.
func (r *receiver) delivered() map[int64]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[int64]string, len(r.orders))
	for id, o := range r.orders {
		out[id] = o
	}
	return out
}

// register POSTs /webhooks for r's URL with tg's key and keeps the secret.
func (r *receiver) register(t *testing.T, tg target) string {
	t.Helper()
	resp := call(t, tg, http.MethodPost, "/webhooks", fmt.Sprintf(`{"url":%q}`, r.url()))
	if resp.code != http.StatusCreated {
		t.Fatalf("POST /webhooks = %s", resp)
	}
	var w struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(resp.body), &w); err != nil || w.Secret == "" {
		t.Fatalf("POST /webhooks body %s: %v", resp.body, err)
	}
	r.mu.Lock()
	r.secret = w.Secret
	r.mu.Unlock()
	return w.ID
}

// TestWebhooksEndToEnd is issue 11's proof of webhooks, through the
// binary: alice's flaky endpoint (500 at random, two deliveries that hang
// past the timeout, down for two seconds) gets every one of her events at
// least once, each signed; her healthy endpoint is not held up meanwhile;
// bob's endpoint gets only his events; an endpoint that answers 410 is
// disabled; a private address is refused without --webhook-allow-private.
func TestWebhooksEndToEnd(t *testing.T) {
	dsn := storetest.SQLitePath(t)
	aliceKey, bobKey, carolKey := createKey(t, dsn, "alice"), createKey(t, dsn, "bob"), createKey(t, dsn, "carol")
	// Backoff capped at 1 s: a delivery that fails several times in a row
	// (down, 500, hang) is retried within the test's time, not after the
	// default's minutes.
	p := start(t, append([]string{"--db", dsn, "--webhook-allow-private", "--webhook-retry-max", "1s"}, quickSim...)...)
	alice, bob, carol := p.as(aliceKey), p.as(bobKey), p.as(carolKey)

	flaky, healthy, bobs, gone := newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t)
	flaky.register(t, alice)
	healthy.register(t, alice)
	bobs.register(t, bob)
	goneID := gone.register(t, carol)
	flaky.mu.Lock()
	flaky.failRate, flaky.hangs = 0.2, 2
	flaky.mu.Unlock()
	gone.mu.Lock()
	gone.gone = true
	gone.mu.Unlock()

	flaky.down()
	downUntil := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	wg.Go(func() { sendLifecycle(t, func() target { return bob }, 20, 2) })
	wg.Go(func() { place(t, carol, marketBody) })
	load := sendLifecycle(t, func() target { return alice }, 60, 4)
	wg.Wait()
	time.Sleep(time.Until(downUntil)) // the endpoint stays down for its two seconds
	flaky.up()

	for name, tg := range map[string]target{"alice": alice, "bob": bob} {
		waitUntil(t, 60*time.Second, name+"'s orders to settle", func() bool { return settled(t, tg) })
	}
	aliceEvents, bobEvents := storedEvents(t, dsn, "alice"), storedEvents(t, dsn, "bob")
	for name, c := range map[string]struct {
		r    *receiver
		want []domain.OrderEvent
	}{"flaky": {flaky, aliceEvents}, "healthy": {healthy, aliceEvents}, "bob's": {bobs, bobEvents}} {
		deadline := time.Now().Add(90 * time.Second)
		for len(c.r.delivered()) < len(c.want) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after 90s: the %s endpoint got %d of %d events; the deliveries still pending:\n%s",
					name, len(c.r.delivered()), len(c.want), pendingDeliveries(t, dsn))
			}
			time.Sleep(20 * time.Millisecond)
		}
		got := c.r.delivered()
		for _, e := range c.want {
			if got[int64(e.ID)] != e.Order.ID.String() {
				t.Errorf("%s endpoint: event %d of order %s delivered as order %q", name, e.ID, e.Order.ID, got[int64(e.ID)])
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("%s endpoint got %d distinct events; want exactly its account's %d", name, len(got), len(c.want))
		}
		c.r.mu.Lock()
		if c.r.bad > 0 {
			t.Errorf("%s endpoint: %d deliveries did not verify", name, c.r.bad)
		}
		c.r.mu.Unlock()
	}

	// The healthy endpoint got each of alice's events soon after it
	// occurred, while the flaky one was down, answering 500 or hanging for
	// the 10 s timeout: one endpoint's failures hold up no other.
	healthy.mu.Lock()
	var worst time.Duration
	var worstID int64
	for _, e := range aliceEvents {
		if lag := healthy.first[int64(e.ID)].Sub(e.OccurredAt); lag > worst {
			worst, worstID = lag, int64(e.ID)
		}
	}
	healthy.mu.Unlock()
	if worst > 3*time.Second {
		t.Errorf("the healthy endpoint got event %d %s after it occurred; want every event within 3 s while the flaky endpoint fails", worstID, worst)
	}
	t.Logf("the healthy endpoint's slowest first delivery: %s after the event", worst)

	// 410 disables: carol's endpoint is listed disabled and gets nothing more.
	waitUntil(t, 30*time.Second, "the 410 endpoint to be disabled", func() bool {
		r := call(t, carol, http.MethodGet, "/webhooks", "")
		var list struct {
			Webhooks []struct {
				ID         string  `json:"id"`
				DisabledAt *string `json:"disabled_at"`
			} `json:"webhooks"`
		}
		_ = json.Unmarshal([]byte(r.body), &list)
		return len(list.Webhooks) == 1 && list.Webhooks[0].ID == goneID && list.Webhooks[0].DisabledAt != nil
	})
	gone.mu.Lock()
	before := gone.requests
	gone.mu.Unlock()
	control := newReceiver(t)
	control.register(t, carol)
	second := place(t, carol, marketBody)
	waitUntil(t, 30*time.Second, "carol's new endpoint to get her second order's fill", func() bool {
		for _, e := range storedEvents(t, dsn, "carol") {
			if e.Order.ID.String() == second && e.Type == domain.EventFilled {
				_, ok := control.delivered()[int64(e.ID)]
				return ok
			}
		}
		return false
	})
	gone.mu.Lock()
	if gone.requests != before {
		t.Errorf("the disabled endpoint got %d requests after it was disabled", gone.requests-before)
	}
	gone.mu.Unlock()

	flaky.mu.Lock()
	repeats := 0
	for _, n := range flaky.got {
		repeats += n - 1
	}
	attempts, hangsLeft := flaky.requests, flaky.hangs
	flaky.mu.Unlock()
	if attempts <= len(aliceEvents) || hangsLeft != 0 {
		t.Errorf("the flaky endpoint answered %d requests for %d events with %d hangs left; the test meant it to fail some", attempts, len(aliceEvents), hangsLeft)
	}
	t.Logf("alice: %d orders, %d events delivered to both endpoints (the flaky one answered %d requests, %d events twice); bob: %d events",
		len(load.ids), len(aliceEvents), attempts, repeats, len(bobEvents))

	// Without --webhook-allow-private, loopback and private addresses are refused.
	strict := start(t, append([]string{"--db", storetest.SQLitePath(t)}, quickSim...)...)
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://[::1]/hook", "http://169.254.169.254/latest", "ftp://example.com/x"} {
		r := call(t, strict.target(), http.MethodPost, "/webhooks", fmt.Sprintf(`{"url":%q}`, u))
		if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "url") {
			t.Errorf("POST /webhooks %s without --webhook-allow-private = %s; want 422 naming url", u, r)
		}
	}
}

// pendingDeliveries describes the webhook deliveries not yet done, for a
// failure message.
func pendingDeliveries(t *testing.T, dsn string) string {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		return err.Error()
	}
	defer st.Close()
	var rows []struct {
		WebhookID  string         `bun:"webhook_id"`
		EventSeq   int64          `bun:"event_seq"`
		DueAt      time.Time      `bun:"due_at"`
		Attempts   int            `bun:"attempts"`
		LastError  sql.NullString `bun:"last_error"`
		LeaseUntil sql.NullTime   `bun:"lease_until"`
	}
	err = st.Bun().NewRaw(`SELECT webhook_id, event_seq, due_at, attempts, last_error, lease_until FROM webhook_deliveries ORDER BY due_at LIMIT 20`).
		Scan(context.Background(), &rows)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s event seq %d: due %s, %d attempts, last error %q, leased until %v\n",
			r.WebhookID, r.EventSeq, r.DueAt.Format(time.RFC3339Nano), r.Attempts, r.LastError.String, r.LeaseUntil.Time)
	}
	return b.String()
}
