package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

func testWebhook(t *testing.T, id string) domain.Webhook {
	t.Helper()
	w, err := domain.NewWebhook("acc", "https://hooks.example.com/"+id, t0)
	if err != nil {
		t.Fatal(err)
	}
	w.ID = domain.WebhookID(id)
	return w
}

func testDelivery(t *testing.T, hook domain.Webhook, id domain.EventID, attempts int) ports.Delivery {
	t.Helper()
	return ports.Delivery{
		Webhook:  hook,
		Event:    domain.OrderEvent{ID: id, Account: hook.Account, Type: domain.EventPlaced, OccurredAt: t0},
		Attempts: attempts,
		Enqueued: t0,
	}
}

// renderEvent stands for the HTTP layer's JSON rendering of an event.
func renderEvent(ev domain.OrderEvent) ([]byte, error) {
	return json.Marshal(map[string]any{"event_id": ev.ID, "type": ev.Type})
}

// onceDeliveries returns a mock outbox whose first claim returns ds and
// later claims nothing; settles succeed.
func onceDeliveries(ds ...ports.Delivery) *mocks.DeliveriesMock {
	var claimed atomic.Bool
	return &mocks.DeliveriesMock{
		ClaimDeliveriesFunc: func(ctx context.Context, c ports.DeliveryClaim) ([]ports.Delivery, error) {
			if claimed.Swap(true) {
				return nil, nil
			}
			return ds, nil
		},
		SettleDeliveryFunc: func(ctx context.Context, d ports.Delivery, o ports.DeliveryOutcome) error { return nil },
	}
}

func newWebhookDispatcher(store ports.Deliveries, sender ports.WebhookSender, clk ports.Clock, m ports.EventMetrics, cfg app.WebhookConfig) *app.WebhookDispatcher {
	if cfg.Render == nil {
		cfg.Render = renderEvent
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(max time.Duration) time.Duration { return max } // deterministic: the ceiling
	}
	if cfg.Poll == 0 {
		cfg.Poll = time.Millisecond
	}
	return app.NewWebhookDispatcher(store, sender, clk, m, quietLogger(), cfg)
}

func runWebhooks(t *testing.T, w *app.WebhookDispatcher) (cancel func(), done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		if err := w.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-ch })
	return cancel, ch
}

// statusSender answers every request with status.
func statusSender(status int) *mocks.WebhookSenderMock {
	return &mocks.WebhookSenderMock{SendFunc: func(ctx context.Context, url string, headers map[string]string, body []byte) (int, error) {
		return status, nil
	}}
}

func TestWebhookDeliveryIsSignedAndVerifies(t *testing.T) {
	clk := newClock()
	hook := testWebhook(t, "wh_1")
	d := testDelivery(t, hook, 42, 0)
	store := onceDeliveries(d)
	sender := statusSender(http.StatusNoContent)
	m := newEventMetricsMock()
	w := newWebhookDispatcher(store, sender, clk.mock(), m, app.WebhookConfig{Timeout: 3 * time.Second})
	runWebhooks(t, w)
	waitFor(t, "the delivery settled", func() bool { return len(store.SettleDeliveryCalls()) == 1 })

	calls := sender.SendCalls()
	if len(calls) != 1 {
		t.Fatalf("Send calls = %d; want 1", len(calls))
	}
	c := calls[0]
	if c.URL != hook.URL {
		t.Errorf("sent to %q; want %q", c.URL, hook.URL)
	}
	want, _ := renderEvent(d.Event)
	if string(c.Body) != string(want) {
		t.Errorf("body = %s; want the rendered event %s", c.Body, want)
	}
	h := c.Headers
	if h["webhook-id"] != "42" || h["webhook-timestamp"] != strconv.FormatInt(t0.Unix(), 10) {
		t.Errorf("webhook-id %q, webhook-timestamp %q; want 42 and %d", h["webhook-id"], h["webhook-timestamp"], t0.Unix())
	}
	if h["content-type"] != "application/json" || h["user-agent"] != "ordergate-webhooks" {
		t.Errorf("content-type %q, user-agent %q", h["content-type"], h["user-agent"])
	}
	if err := domain.VerifyWebhook(hook.Secret, h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"], c.Body, clk.Now()); err != nil {
		t.Errorf("VerifyWebhook: %v", err)
	}
	if err := domain.VerifyWebhook(testWebhook(t, "other").Secret, h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"], c.Body, clk.Now()); err == nil {
		t.Error("the signature verifies with another endpoint's secret too")
	}
	s := store.SettleDeliveryCalls()[0]
	if s.O.Result != ports.Delivered || !s.O.At.Equal(t0) || s.D.Event.ID != 42 {
		t.Errorf("settled %+v for event %d; want delivered at %s", s.O, s.D.Event.ID, t0)
	}
	if a := m.WebhookAttemptCalls(); len(a) != 1 || a[0].Result != ports.Delivered {
		t.Errorf("WebhookAttempt calls = %+v; want one Delivered", a)
	}
}

func TestWebhookRequestIsBoundedByTimeout(t *testing.T) {
	clk := newClock()
	deadline := make(chan time.Duration, 1)
	sender := &mocks.WebhookSenderMock{SendFunc: func(ctx context.Context, url string, headers map[string]string, body []byte) (int, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			deadline <- -1
		} else {
			deadline <- time.Until(dl)
		}
		return 200, nil
	}}
	w := newWebhookDispatcher(onceDeliveries(testDelivery(t, testWebhook(t, "wh_1"), 1, 0)), sender, clk.mock(), nil, app.WebhookConfig{Timeout: 3 * time.Second})
	runWebhooks(t, w)
	select {
	case got := <-deadline:
		if got <= 0 || got > 3*time.Second {
			t.Errorf("request deadline in %s; want within the 3 s timeout", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no request sent")
	}
}

func TestWebhookOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		err       error
		attempts  int
		enqueued  time.Duration // before now
		want      ports.DeliveryResult
		wantDue   time.Duration // after now, for retries
		wantCause string
	}{
		{name: "2xx delivers", status: 202, want: ports.Delivered},
		{name: "410 disables the endpoint", status: 410, want: ports.EndpointGone, wantCause: "410 Gone"},
		{name: "500 retries after the base", status: 500, want: ports.RetryDelivery, wantDue: time.Second, wantCause: "status 500"},
		{name: "the due grows with attempts", status: 500, attempts: 3, want: ports.RetryDelivery, wantDue: 8 * time.Second, wantCause: "status 500"},
		{name: "the due is capped", status: 503, attempts: 40, want: ports.RetryDelivery, wantDue: time.Hour, wantCause: "status 503"},
		{name: "a redirect is a failure", status: 302, want: ports.RetryDelivery, wantDue: time.Second, wantCause: "status 302"},
		{name: "an error retries", err: errors.New("connection refused"), attempts: 1, want: ports.RetryDelivery, wantDue: 2 * time.Second, wantCause: "connection refused"},
		{name: "retried for long enough", status: 500, attempts: 90, enqueued: 72*time.Hour + time.Second, want: ports.GiveUp, wantCause: "status 500"},
		{name: "just within the retry period", status: 500, attempts: 90, enqueued: 72 * time.Hour, want: ports.RetryDelivery, wantDue: time.Hour, wantCause: "status 500"},
		{name: "410 after the retry period still disables", status: 410, enqueued: 100 * time.Hour, want: ports.EndpointGone, wantCause: "410 Gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			d := testDelivery(t, testWebhook(t, "wh_1"), 7, tt.attempts)
			d.Enqueued = t0.Add(-tt.enqueued)
			store := onceDeliveries(d)
			sender := &mocks.WebhookSenderMock{SendFunc: func(ctx context.Context, url string, headers map[string]string, body []byte) (int, error) {
				return tt.status, tt.err
			}}
			m := newEventMetricsMock()
			w := newWebhookDispatcher(store, sender, clk.mock(), m, app.WebhookConfig{})
			runWebhooks(t, w)
			waitFor(t, "the delivery settled", func() bool { return len(store.SettleDeliveryCalls()) == 1 })
			o := store.SettleDeliveryCalls()[0].O
			if o.Result != tt.want || o.Cause != tt.wantCause {
				t.Errorf("outcome %v (cause %q); want %v (cause %q)", o.Result, o.Cause, tt.want, tt.wantCause)
			}
			if tt.want == ports.RetryDelivery {
				if got := o.Due.Sub(t0); got != tt.wantDue {
					t.Errorf("due after %s; want %s", got, tt.wantDue)
				}
			}
			if a := m.WebhookAttemptCalls(); len(a) != 1 || a[0].Result != tt.want {
				t.Errorf("WebhookAttempt calls = %+v; want one %v", a, tt.want)
			}
		})
	}
}

func TestWebhookBackoffIsJitteredWithinCeiling(t *testing.T) {
	w := app.NewWebhookDispatcher(&mocks.DeliveriesMock{}, &mocks.WebhookSenderMock{}, newClock().mock(), nil, quietLogger(), app.WebhookConfig{Render: renderEvent})
	for attempts := range 30 {
		ceiling := min(time.Hour, time.Second<<attempts)
		var sawLow, sawHigh bool
		for range 200 {
			got := w.Backoff(attempts)
			if got < 0 || got > ceiling {
				t.Fatalf("Backoff(%d) = %s; want within [0, %s]", attempts, got, ceiling)
			}
			sawLow = sawLow || got < ceiling/2
			sawHigh = sawHigh || got >= ceiling/2
		}
		if !sawLow || !sawHigh {
			t.Errorf("Backoff(%d) never fell in both halves of [0, %s]: not jittered", attempts, ceiling)
		}
	}
}

func TestWebhookClaimAsksForLeasesPerEndpoint(t *testing.T) {
	clk := newClock()
	store := onceDeliveries()
	w := newWebhookDispatcher(store, statusSender(200), clk.mock(), nil, app.WebhookConfig{Owner: "me", Concurrency: 8, PerEndpoint: 2, Timeout: 5 * time.Second})
	runWebhooks(t, w)
	waitFor(t, "a claim", func() bool { return len(store.ClaimDeliveriesCalls()) >= 1 })
	got := store.ClaimDeliveriesCalls()[0].C
	want := ports.DeliveryClaim{Owner: "me", Now: t0, LeaseUntil: t0.Add(25 * time.Second), Limit: 8, PerEndpoint: 2}
	if got != want {
		t.Errorf("claim = %+v; want %+v", got, want)
	}
}

// memDeliveries is an in-memory webhook outbox with leases that honours
// PerEndpoint as the real one does.
type memDeliveries struct {
	mu   sync.Mutex
	all  []*memDelivery
	peak map[domain.WebhookID]int
	*mocks.DeliveriesMock
}

type memDelivery struct {
	d      ports.Delivery
	leased bool
	done   bool
}

func newMemDeliveries(ds ...ports.Delivery) *memDeliveries {
	m := &memDeliveries{peak: map[domain.WebhookID]int{}}
	for _, d := range ds {
		m.all = append(m.all, &memDelivery{d: d})
	}
	m.DeliveriesMock = &mocks.DeliveriesMock{
		ClaimDeliveriesFunc: func(ctx context.Context, c ports.DeliveryClaim) ([]ports.Delivery, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			leased := map[domain.WebhookID]int{}
			for _, x := range m.all {
				if x.leased {
					leased[x.d.Webhook.ID]++
				}
			}
			var out []ports.Delivery
			for _, x := range m.all {
				id := x.d.Webhook.ID
				if len(out) == c.Limit {
					break
				}
				if x.done || x.leased || leased[id] >= c.PerEndpoint {
					continue
				}
				x.leased = true
				leased[id]++
				m.peak[id] = max(m.peak[id], leased[id])
				out = append(out, x.d)
			}
			return out, nil
		},
		SettleDeliveryFunc: func(ctx context.Context, d ports.Delivery, o ports.DeliveryOutcome) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, x := range m.all {
				if x.d.Webhook.ID == d.Webhook.ID && x.d.Event.ID == d.Event.ID {
					x.leased, x.done = false, o.Result != ports.RetryDelivery
				}
			}
			return nil
		},
		ReleaseDeliveriesFunc: func(ctx context.Context, ds []ports.Delivery, now time.Time) error { return nil },
	}
	return m
}

func (m *memDeliveries) delivered(id domain.WebhookID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, x := range m.all {
		if x.d.Webhook.ID == id && x.done {
			n++
		}
	}
	return n
}

// TestWebhookHangingEndpointDelaysNoOther lets one endpoint hang until the
// request's context ends: the other endpoint's deliveries go out
// meanwhile, because the hanging one never holds more than PerEndpoint
// slots.
func TestWebhookHangingEndpointDelaysNoOther(t *testing.T) {
	clk := newClock()
	slow, fast := testWebhook(t, "wh_slow"), testWebhook(t, "wh_fast")
	var ds []ports.Delivery
	for i := range 20 {
		ds = append(ds, testDelivery(t, slow, domain.EventID(i+1), 0))
	}
	for i := range 5 {
		ds = append(ds, testDelivery(t, fast, domain.EventID(100+i), 0))
	}
	store := newMemDeliveries(ds...)
	var hanging atomic.Int32
	unblock := make(chan struct{})
	sender := &mocks.WebhookSenderMock{SendFunc: func(ctx context.Context, url string, headers map[string]string, body []byte) (int, error) {
		if url == slow.URL {
			hanging.Add(1)
			select { // an endpoint that never answers, until the test ends
			case <-ctx.Done():
			case <-unblock:
			}
			return 0, errors.New("timeout")
		}
		return 200, nil
	}}
	w := newWebhookDispatcher(store, sender, clk.mock(), nil, app.WebhookConfig{Concurrency: 4, PerEndpoint: 2, Timeout: time.Hour})
	cancel, done := runWebhooks(t, w)
	waitFor(t, "every delivery to the healthy endpoint", func() bool { return store.delivered(fast.ID) == 5 })
	if n := hanging.Load(); n != 2 {
		t.Errorf("requests hanging on the slow endpoint = %d; want PerEndpoint = 2", n)
	}
	for _, c := range store.ClaimDeliveriesCalls() {
		if c.C.PerEndpoint != 2 {
			t.Fatalf("claim with PerEndpoint %d; want 2", c.C.PerEndpoint)
		}
	}
	close(unblock)
	cancel()
	<-done
	store.mu.Lock()
	defer store.mu.Unlock()
	if p := store.peak[slow.ID]; p != 2 {
		t.Errorf("peak leases held for the slow endpoint = %d; want 2", p)
	}
}

func TestWebhookShutdownReleasesUnstartedDeliveries(t *testing.T) {
	clk := newClock()
	hook := testWebhook(t, "wh_1")
	ds := []ports.Delivery{testDelivery(t, hook, 1, 0), testDelivery(t, hook, 2, 3)}
	ctx, stop := context.WithCancel(context.Background())
	store := &mocks.DeliveriesMock{
		ClaimDeliveriesFunc: func(context.Context, ports.DeliveryClaim) ([]ports.Delivery, error) {
			stop() // SIGTERM arrives while the claim commits
			return ds, nil
		},
		ReleaseDeliveriesFunc: func(ctx context.Context, ds []ports.Delivery, now time.Time) error { return ctx.Err() },
	}
	sender := statusSender(200)
	w := newWebhookDispatcher(store, sender, clk.mock(), nil, app.WebhookConfig{})
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(sender.SendCalls()); n != 0 {
		t.Errorf("%d requests after shutdown began; want 0", n)
	}
	rel := store.ReleaseDeliveriesCalls()
	if len(rel) != 1 || len(rel[0].Ds) != 2 || !rel[0].Now.Equal(t0) {
		t.Fatalf("ReleaseDeliveries calls = %+v; want one with both deliveries at the clock's time", rel)
	}
}

func TestWebhookShutdownRecordsInFlightOutcome(t *testing.T) {
	clk := newClock()
	store := onceDeliveries(testDelivery(t, testWebhook(t, "wh_1"), 1, 0))
	var settleCtxErr atomic.Value
	store.SettleDeliveryFunc = func(ctx context.Context, d ports.Delivery, o ports.DeliveryOutcome) error {
		settleCtxErr.Store(fmt.Sprint(ctx.Err()))
		return ctx.Err()
	}
	started := make(chan struct{})
	finish := make(chan struct{})
	sender := &mocks.WebhookSenderMock{SendFunc: func(ctx context.Context, url string, headers map[string]string, body []byte) (int, error) {
		close(started)
		<-finish
		return 200, nil
	}}
	w := newWebhookDispatcher(store, sender, clk.mock(), nil, app.WebhookConfig{Timeout: time.Hour})
	cancel, done := runWebhooks(t, w)
	<-started
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a request was in flight")
	default:
	}
	close(finish)
	<-done
	if s := store.SettleDeliveryCalls(); len(s) != 1 || s[0].O.Result != ports.Delivered {
		t.Errorf("settles = %+v; want one Delivered", s)
	}
	if got := settleCtxErr.Load(); got != "<nil>" {
		t.Errorf("settled on a context ended with %v; want a live one", got)
	}
}

func TestWebhookSurvivesLostLeasesAndClaimErrors(t *testing.T) {
	clk := newClock()
	hook := testWebhook(t, "wh_1")
	var claims atomic.Int32
	store := &mocks.DeliveriesMock{
		ClaimDeliveriesFunc: func(context.Context, ports.DeliveryClaim) ([]ports.Delivery, error) {
			switch n := claims.Add(1); {
			case n <= 2:
				return nil, errors.New("database is locked")
			case n <= 4:
				return []ports.Delivery{testDelivery(t, hook, domain.EventID(n), 0)}, nil
			}
			return nil, nil
		},
		SettleDeliveryFunc: func(ctx context.Context, d ports.Delivery, o ports.DeliveryOutcome) error {
			if d.Event.ID == 3 {
				return fmt.Errorf("settle: %w", domain.ErrLeaseLost)
			}
			return nil
		},
	}
	w := newWebhookDispatcher(store, statusSender(200), clk.mock(), nil, app.WebhookConfig{})
	runWebhooks(t, w)
	waitFor(t, "both deliveries settled", func() bool { return len(store.SettleDeliveryCalls()) == 2 })
}

func TestNewWebhookDispatcherWantsRender(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewWebhookDispatcher without Render did not panic")
		}
	}()
	app.NewWebhookDispatcher(&mocks.DeliveriesMock{}, &mocks.WebhookSenderMock{}, newClock().mock(), nil, quietLogger(), app.WebhookConfig{})
}

func TestWakeOnEventsWakesAfterEverySignal(t *testing.T) {
	sig, c, stopped := signalMock()
	var wakes atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		app.WakeOnEvents(ctx, sig, func() { wakes.Add(1) })
	}()
	for want := int32(1); want <= 3; want++ {
		c <- struct{}{}
		waitFor(t, "a wake after the signal", func() bool { return wakes.Load() == want })
	}
	cancel()
	<-done
	select {
	case <-stopped:
	default:
		t.Error("WakeOnEvents returned without stopping its signal subscription")
	}
}

func TestWebhookWithoutEnqueueTimeIsRetriedNotGivenUp(t *testing.T) {
	clk := newClock()
	d := testDelivery(t, testWebhook(t, "wh_1"), 7, 5)
	d.Enqueued = time.Time{}
	store := onceDeliveries(d)
	w := newWebhookDispatcher(store, statusSender(500), clk.mock(), nil, app.WebhookConfig{})
	runWebhooks(t, w)
	waitFor(t, "the delivery settled", func() bool { return len(store.SettleDeliveryCalls()) == 1 })
	if o := store.SettleDeliveryCalls()[0].O; o.Result != ports.RetryDelivery {
		t.Errorf("outcome %v; want RetryDelivery", o.Result)
	}
}

// TestWebhookBacklogToOneEndpointDrainsWithoutPolls gives one endpoint a
// backlog far above PerEndpoint and a poll that never comes: each settled
// delivery makes room for the endpoint's next, which is claimed at once,
// not at the next poll (the benchmark caught one endpoint getting 8
// deliveries a second, PerEndpoint per poll).
func TestWebhookBacklogToOneEndpointDrainsWithoutPolls(t *testing.T) {
	clk := newClock()
	hook := testWebhook(t, "wh_busy")
	var ds []ports.Delivery
	for i := range 100 {
		ds = append(ds, testDelivery(t, hook, domain.EventID(i+1), 0))
	}
	store := newMemDeliveries(ds...)
	w := newWebhookDispatcher(store, statusSender(204), clk.mock(), nil, app.WebhookConfig{Concurrency: 64, PerEndpoint: 4, Poll: time.Hour})
	runWebhooks(t, w)
	waitFor(t, "the endpoint's whole backlog", func() bool { return store.delivered(hook.ID) == 100 })
	if n := len(store.ClaimDeliveriesCalls()); n < 25 {
		t.Errorf("%d claims for 100 deliveries at 4 a claim", n)
	}
}
