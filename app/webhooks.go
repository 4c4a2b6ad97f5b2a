package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// WebhookConfig tunes a WebhookDispatcher. Zero fields take the defaults
// below; Render is required.
type WebhookConfig struct {
	// Owner names this sender in the deliveries it leases (default
	// host:pid:random).
	Owner string
	// Render returns the JSON body of an event: the same object as the
	// event stream's data.
	Render func(domain.OrderEvent) ([]byte, error)
	// Concurrency is the most requests in flight at once (default 64).
	Concurrency int
	// PerEndpoint is the most deliveries to one endpoint leased at once,
	// across every sender (default 4): a slow endpoint holds no more
	// slots than that.
	PerEndpoint int
	// Timeout bounds one request (default 10 s): only a 2xx answer within
	// it delivers.
	Timeout time.Duration
	// Lease is how long a claimed delivery stays reserved (default
	// Timeout + 20 s); one not above Timeout is raised to that.
	Lease time.Duration
	// RetryBase and RetryMax shape the backoff after a failed attempt: a
	// delivery attempted n times before waits a uniformly random time in
	// [0, min(RetryMax, RetryBase·2^n)]. Defaults 1 s and 1 h.
	RetryBase, RetryMax time.Duration
	// RetryFor is how long after it was written a failing delivery is
	// still retried (default 72 h); then it is given up.
	RetryFor time.Duration
	// Poll is how often to look for due deliveries when nothing wakes the
	// sender (default 500 ms).
	Poll time.Duration
	// Jitter returns a random duration in [0, max]. Nil means uniform
	// random; tests pass a deterministic function.
	Jitter func(max time.Duration) time.Duration
}

// Defaults of WebhookConfig.
const (
	DefaultWebhookConcurrency = 64
	DefaultWebhookPerEndpoint = 4
	DefaultWebhookTimeout     = 10 * time.Second
	DefaultWebhookRetryBase   = time.Second
	DefaultWebhookRetryMax    = time.Hour
	DefaultWebhookRetryFor    = 72 * time.Hour
	DefaultWebhookPoll        = 500 * time.Millisecond
	// webhookLeaseMargin is how much longer than a request a lease lasts.
	webhookLeaseMargin = 20 * time.Second
)

// WebhookUserAgent is the user-agent header of every delivery.
const WebhookUserAgent = "ordergate-webhooks"

// WebhookDispatcher delivers the webhook outbox: it claims due deliveries
// with leases, at most PerEndpoint per endpoint, POSTs each signed event
// with bounded concurrency and settles it: delivered on a 2xx, the
// endpoint disabled on a 410, retried with capped exponential backoff and
// full jitter otherwise, given up after RetryFor. It runs on the same
// machine as the order Dispatcher; several senders, in one process or
// many, may share one outbox.
type WebhookDispatcher struct {
	store  ports.Deliveries
	sender ports.WebhookSender
	clock  ports.Clock
	m      ports.EventMetrics
	log    *slog.Logger
	cfg    WebhookConfig
	loop   *leaseLoop[ports.Delivery]
}

// NewWebhookDispatcher returns a sender of d's deliveries through sender,
// measured by m (nil: not measured). It panics if cfg.Render is nil.
// Wake it when events are sequenced (the store's EventSignal), since that
// is when their deliveries become claimable.
func NewWebhookDispatcher(d ports.Deliveries, sender ports.WebhookSender, clock ports.Clock, m ports.EventMetrics, log *slog.Logger, cfg WebhookConfig) *WebhookDispatcher {
	if cfg.Render == nil {
		panic("app: NewWebhookDispatcher: WebhookConfig.Render is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultWebhookConcurrency
	}
	if cfg.PerEndpoint <= 0 {
		cfg.PerEndpoint = DefaultWebhookPerEndpoint
	}
	def(&cfg.Timeout, DefaultWebhookTimeout)
	// A lease that ran out during a request would let a second sender
	// deliver the same event while the first still waits for an answer.
	if cfg.Lease <= cfg.Timeout {
		cfg.Lease = cfg.Timeout + webhookLeaseMargin
	}
	def(&cfg.RetryBase, DefaultWebhookRetryBase)
	def(&cfg.RetryMax, DefaultWebhookRetryMax)
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryBase)
	def(&cfg.RetryFor, DefaultWebhookRetryFor)
	def(&cfg.Poll, DefaultWebhookPoll)
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if cfg.Jitter == nil {
		cfg.Jitter = uniformJitter
	}
	if m == nil {
		m = nopEventMetrics{}
	}
	if log == nil {
		log = slog.Default()
	}
	w := &WebhookDispatcher{
		store:  d,
		sender: sender,
		clock:  clock,
		m:      m,
		log:    log.With("component", "webhooks", "owner", cfg.Owner),
		cfg:    cfg,
	}
	// In-flight requests end by their own timeout: that is the grace.
	w.loop = newLeaseLoop[ports.Delivery]("webhook deliveries", cfg.Concurrency, cfg.Poll, cfg.Timeout, w.log)
	// A claim leases at most PerEndpoint deliveries of an endpoint; the
	// endpoint's next ones are due as soon as those settle.
	w.loop.claimAfterSettle = true
	w.loop.claim = w.claim
	w.loop.release = w.release
	w.loop.run = func(calls context.Context, d ports.Delivery) func() {
		start := time.Now()
		status, err := w.post(calls, d)
		took := time.Since(start)
		return func() { w.settle(calls, d, status, err, took) }
	}
	return w
}

// Wake tells the sender that deliveries may be due now, so it claims at
// once instead of at the next poll. It never blocks.
func (w *WebhookDispatcher) Wake() { signal(w.loop.wake) }

// Run delivers until ctx is cancelled, then stops claiming, hands back the
// deliveries claimed but not started, lets requests in flight run to their
// timeout, records every outcome and returns nil.
func (w *WebhookDispatcher) Run(ctx context.Context) error {
	w.log.Info("webhook sender started", "concurrency", w.cfg.Concurrency, "per_endpoint", w.cfg.PerEndpoint, "lease", w.cfg.Lease)
	w.loop.Run(ctx)
	return nil
}

// Backoff returns the wait before retrying a delivery attempted attempts
// times: a random duration in [0, min(RetryMax, RetryBase·2^attempts)].
func (w *WebhookDispatcher) Backoff(attempts int) time.Duration {
	return w.cfg.Jitter(backoffCeiling(w.cfg.RetryBase, w.cfg.RetryMax, attempts))
}

func (w *WebhookDispatcher) claim(ctx context.Context, n int) ([]ports.Delivery, error) {
	now := w.clock.Now()
	ds, err := w.store.ClaimDeliveries(ctx, ports.DeliveryClaim{
		Owner:       w.cfg.Owner,
		Now:         now,
		LeaseUntil:  now.Add(w.cfg.Lease),
		Limit:       n,
		PerEndpoint: w.cfg.PerEndpoint,
	})
	if err != nil {
		return nil, fmt.Errorf("webhooks: claim: %w", err)
	}
	return ds, nil
}

// release hands claimed deliveries back unstarted. ctx has ended already.
func (w *WebhookDispatcher) release(ctx context.Context, ds []ports.Delivery) {
	if len(ds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := w.store.ReleaseDeliveries(ctx, ds, w.clock.Now()); err != nil {
		w.log.Error("release unstarted webhook deliveries; they wait out their lease", "deliveries", len(ds), "err", err)
		return
	}
	w.log.Info("released unstarted webhook deliveries", "deliveries", len(ds))
}

// post signs d's event and sends it, bounded by the request timeout.
func (w *WebhookDispatcher) post(calls context.Context, d ports.Delivery) (int, error) {
	body, err := w.cfg.Render(d.Event)
	if err != nil {
		return 0, fmt.Errorf("render event %d: %w", d.Event.ID, err)
	}
	id := strconv.FormatInt(int64(d.Event.ID), 10)
	ts := w.clock.Now().Unix()
	sig, err := domain.SignWebhook(d.Webhook.Secret, id, ts, body)
	if err != nil {
		return 0, fmt.Errorf("sign event %d: %w", d.Event.ID, err)
	}
	headers := map[string]string{
		"webhook-id":        id,
		"webhook-timestamp": strconv.FormatInt(ts, 10),
		"webhook-signature": sig,
		"content-type":      "application/json",
		"user-agent":        WebhookUserAgent,
	}
	ctx, cancel := context.WithTimeout(calls, w.cfg.Timeout)
	defer cancel()
	return w.sender.Send(ctx, d.Webhook.URL, headers, body)
}

// settle records how d's attempt ended: status and err from post, after
// took. It writes on a context of its own, so that shutdown never discards
// the outcome of a request that reached the endpoint.
func (w *WebhookDispatcher) settle(calls context.Context, d ports.Delivery, status int, err error, took time.Duration) {
	now := w.clock.Now()
	log := w.log.With("webhook_id", string(d.Webhook.ID), "event_id", int64(d.Event.ID), "attempts", d.Attempts)
	o := ports.DeliveryOutcome{At: now}
	switch {
	case err == nil && status >= 200 && status < 300:
		o.Result = ports.Delivered
	case err == nil && status == 410:
		o.Result, o.Cause = ports.EndpointGone, "410 Gone"
	case calls.Err() != nil:
		o.Result, o.Due, o.Cause = ports.RetryDelivery, now, "request interrupted by shutdown"
	default:
		o.Cause = "status " + strconv.Itoa(status)
		if err != nil {
			o.Cause = err.Error()
		}
		// A delivery without its enqueue time is never given up.
		if !d.Enqueued.IsZero() && now.Sub(d.Enqueued) > w.cfg.RetryFor {
			o.Result = ports.GiveUp
		} else {
			o.Result, o.Due = ports.RetryDelivery, now.Add(w.Backoff(d.Attempts))
		}
	}
	w.m.WebhookAttempt(o.Result, took)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(calls), settleTimeout)
	defer cancel()
	switch serr := w.store.SettleDelivery(ctx, d, o); {
	case errors.Is(serr, domain.ErrLeaseLost):
		log.Debug("lease lost before the outcome was recorded; the new holder settles the delivery", "cause", o.Cause)
		return
	case serr != nil:
		// The delivery stays leased; once the lease runs out it is
		// claimed and sent again: delivery is at least once.
		log.Error("record a webhook delivery's outcome", "err", serr, "cause", o.Cause)
		return
	}
	switch o.Result {
	case ports.Delivered:
		log.Debug("webhook delivered", "took", took)
	case ports.EndpointGone:
		log.Info("webhook endpoint answered 410 Gone; disabled", "url", d.Webhook.URL)
	case ports.GiveUp:
		log.Warn("webhook delivery given up", "cause", o.Cause, "enqueued", d.Enqueued, "retry_for", w.cfg.RetryFor)
	default:
		log.Debug("webhook delivery failed; will retry", "cause", o.Cause, "due", o.Due)
	}
}

// WakeOnEvents calls wake after every signal until ctx ends. Pass the
// store's EventSignal and WebhookDispatcher.Wake: deliveries become
// claimable when their events get IDs, which signals.
func WakeOnEvents(ctx context.Context, signal ports.EventSignal, wake func()) {
	c, stop := signal.EventsSignal()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-c:
			if !ok {
				return
			}
			wake()
		}
	}
}
