// Package metrics exports ordergate's measurements in the Prometheus text
// format with prometheus/client_golang: HTTP requests by route and status
// and their durations, orders created, the outbox's depth and the age of
// its oldest order, placement attempts by outcome and their durations, the
// time from commit to placement, the exchange circuit breaker's state, the
// event streams connected and what they were sent, and webhook delivery
// attempts. The core reports through ports.Metrics, ports.FeedMetrics and
// ports.EventMetrics; the HTTP layer through ObserveRequest; the outbox,
// the breaker, the events written and the webhook outbox are read at
// scrape time.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

var (
	_ ports.Metrics      = (*Metrics)(nil)
	_ ports.FeedMetrics  = (*Metrics)(nil)
	_ ports.EventMetrics = (*Metrics)(nil)
)

// Config says where the scrape-time figures come from.
type Config struct {
	// Outbox, if set, is counted at each scrape: outbox depth and the age
	// of the oldest pending order.
	Outbox ports.OutboxStater
	// Breaker, if set, is the exchange circuit breaker whose state each
	// scrape reports.
	Breaker ports.Gate
	// LastEventID, if set, is called at each scrape for the events
	// written: pass Events.LastEventID.
	LastEventID func(context.Context) (domain.EventID, error)
	// DeliveryStats, if set, is called at each scrape for the webhook
	// outbox's depth and the age of its oldest pending delivery: pass
	// Deliveries.DeliveryStats.
	DeliveryStats func(context.Context) (ports.DeliveryStats, error)
	// Clock tells the time for ages (default: the system clock).
	Clock ports.Clock
	// Logger receives scrape-time failures (default slog.Default()).
	Logger *slog.Logger
}

// Metrics is a Prometheus registry holding ordergate's metrics. It
// implements ports.Metrics and ports.FeedMetrics for the core,
// ObserveRequest for the HTTP layer, and serves the registry as an
// http.Handler.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	ordersCreated   prometheus.Counter
	attempts        *prometheus.CounterVec
	attemptDuration *prometheus.HistogramVec
	placement       prometheus.Histogram
	cancels         *prometheus.CounterVec
	reportsReceived *prometheus.CounterVec
	reportsApplied  *prometheus.CounterVec
	feedEvents      *prometheus.CounterVec
	feedLag         prometheus.Histogram
	streams         prometheus.Gauge
	streamed        prometheus.Counter
	dropped         prometheus.Counter
	webhooks        *prometheus.CounterVec
	webhookDuration prometheus.Histogram
}

// New returns Metrics registered in a registry of its own, with the Go
// runtime and process collectors.
func New(cfg Config) *Metrics {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = app.SystemClock{}
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordergate_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ordergate_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
		ordersCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ordergate_orders_created_total",
			Help: "Orders committed (with their placement job) by this process.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordergate_placement_attempts_total",
			Help: "Exchange calls made by this process's dispatcher, by outcome: placed, rejected, failed (retried) or interrupted (shutdown).",
		}, []string{"outcome"}),
		attemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ordergate_placement_attempt_duration_seconds",
			Help:    "Duration of one exchange call, by outcome.",
			Buckets: []float64{.001, .01, .05, .1, .25, .5, .75, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		placement: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ordergate_placement_latency_seconds",
			Help:    "Time from an order's commit to the exchange's acknowledgement, for orders this process placed.",
			Buckets: []float64{.1, .25, .5, .6, .75, 1, 2.5, 5, 10, 30, 60, 300},
		}),
	}
	m.cancels = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordergate_cancel_attempts_total",
		Help: "Cancel requests sent to the exchange by this process's dispatcher, by outcome: accepted, rejected, failed (retried) or interrupted (shutdown).",
	}, []string{"outcome"})
	m.reportsReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordergate_execution_reports_received_total",
		Help: "Execution reports read from the exchange's feed by this process's ingester, by kind, repeats and reports out of order included.",
	}, []string{"kind"})
	m.reportsApplied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordergate_execution_reports_applied_total",
		Help: "Execution reports committed by this process's ingester, by result: a report kind when applied to its order, duplicate when its execution was applied already, unknown when kept aside (an order this database does not hold).",
	}, []string{"result"})
	m.feedEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordergate_feed_events_total",
		Help: "Events of the connection to the exchange's feed: reconnect, gap (a missing sequence number) and replay.",
	}, []string{"event"})
	m.feedLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ordergate_feed_lag_seconds",
		Help:    "Time from an execution report's venue time to its commit.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	m.streams = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ordergate_event_streams",
		Help: "Event stream clients connected to this process.",
	})
	m.streamed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ordergate_events_streamed_total",
		Help: "Events handed to event stream clients by this process.",
	})
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ordergate_event_streams_dropped_total",
		Help: "Event stream clients disconnected for falling behind.",
	})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ordergate_webhook_attempts_total",
		Help: "Webhook delivery attempts made by this process, by result: delivered, retry, gave_up (retried for too long) or endpoint_gone (answered 410).",
	}, []string{"result"})
	m.webhookDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ordergate_webhook_attempt_duration_seconds",
		Help:    "Duration of one webhook delivery attempt.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.reg.MustRegister(m.streams, m.streamed, m.dropped, m.webhooks, m.webhookDuration)
	m.reg.MustRegister(m.cancels, m.reportsReceived, m.reportsApplied, m.feedEvents, m.feedLag)
	m.reg.MustRegister(m.requests, m.requestDuration, m.ordersCreated, m.attempts, m.attemptDuration, m.placement,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.Outbox != nil {
		outbox := cfg.Outbox
		m.reg.MustRegister(&pendingCollector{
			what: "the outbox", depth: outboxDepthDesc, oldest: oldestPendingDesc, clock: cfg.Clock, log: cfg.Logger,
			read: func(ctx context.Context) (int64, time.Time, error) {
				st, err := outbox.OutboxStats(ctx)
				if err != nil || st.Oldest.IsZero() {
					return st.Pending, time.Time{}, err
				}
				return st.Pending, domain.IDTime(st.Oldest), nil
			},
		})
	}
	if cfg.Breaker != nil {
		m.reg.MustRegister(&breakerCollector{gate: cfg.Breaker})
	}
	if cfg.LastEventID != nil {
		m.reg.MustRegister(&eventsCollector{last: cfg.LastEventID, log: cfg.Logger})
	}
	if cfg.DeliveryStats != nil {
		deliveries := cfg.DeliveryStats
		m.reg.MustRegister(&pendingCollector{
			what: "the webhook outbox", depth: webhookDepthDesc, oldest: webhookOldestDesc, clock: cfg.Clock, log: cfg.Logger,
			read: func(ctx context.Context) (int64, time.Time, error) {
				st, err := deliveries(ctx)
				return st.Pending, st.Oldest, err
			},
		})
	}
	for _, r := range []ports.DeliveryResult{ports.Delivered, ports.RetryDelivery, ports.GiveUp, ports.EndpointGone} {
		m.webhooks.WithLabelValues(resultLabel(r))
	}
	// Every outcome shows from the start, at zero, so rate() works at once.
	for _, o := range []string{ports.OutcomePlaced, ports.OutcomeRejected, ports.OutcomeFailed, ports.OutcomeInterrupted} {
		m.attempts.WithLabelValues(o)
	}
	for _, o := range []string{ports.OutcomeAccepted, ports.OutcomeRejected, ports.OutcomeFailed, ports.OutcomeInterrupted} {
		m.cancels.WithLabelValues(o)
	}
	for _, k := range domain.ReportKinds() {
		m.reportsReceived.WithLabelValues(string(k))
		m.reportsApplied.WithLabelValues(string(k))
	}
	m.reportsApplied.WithLabelValues("duplicate")
	m.reportsApplied.WithLabelValues("unknown")
	for _, e := range []ports.FeedEvent{ports.FeedReconnect, ports.FeedGap, ports.FeedReplay} {
		m.feedEvents.WithLabelValues(string(e))
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError)})
	return m
}

// ServeHTTP serves the metrics in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// ObserveRequest records one answered HTTP request. route is the matched
// route pattern ("/orders/{id}"), never the raw path, so label values stay
// few.
func (m *Metrics) ObserveRequest(method, route string, status int, took time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(method, route).Observe(took.Seconds())
}

// OrderCreated counts one committed order.
func (m *Metrics) OrderCreated() { m.ordersCreated.Inc() }

// PlacementAttempt records one exchange call.
func (m *Metrics) PlacementAttempt(outcome string, took time.Duration) {
	m.attempts.WithLabelValues(outcome).Inc()
	m.attemptDuration.WithLabelValues(outcome).Observe(took.Seconds())
}

// OrderPlaced records an order's time from commit to placement.
func (m *Metrics) OrderPlaced(sinceCommit time.Duration) {
	m.placement.Observe(sinceCommit.Seconds())
}

// CancelAttempt records one cancel call.
func (m *Metrics) CancelAttempt(outcome string, _ time.Duration) {
	m.cancels.WithLabelValues(outcome).Inc()
}

// ReportReceived counts one report read from the feed.
func (m *Metrics) ReportReceived(kind domain.ReportKind) {
	m.reportsReceived.WithLabelValues(string(kind)).Inc()
}

// BatchApplied records a committed batch of reports and each report's lag.
func (m *Metrics) BatchApplied(b ports.Batch, a ports.Applied, committed time.Time) {
	for k, n := range a.Kinds {
		m.reportsApplied.WithLabelValues(string(k)).Add(float64(n))
	}
	m.reportsApplied.WithLabelValues("duplicate").Add(float64(a.Duplicates))
	m.reportsApplied.WithLabelValues("unknown").Add(float64(a.Unknown))
	for _, r := range b.Reports {
		m.feedLag.Observe(max(0, committed.Sub(r.At).Seconds()))
	}
}

// Event counts a reconnect, gap or replay of the feed.
func (m *Metrics) Event(e ports.FeedEvent) { m.feedEvents.WithLabelValues(string(e)).Inc() }

// StreamOpened counts one more connected stream client.
func (m *Metrics) StreamOpened() { m.streams.Inc() }

// StreamClosed counts one fewer connected stream client.
func (m *Metrics) StreamClosed() { m.streams.Dec() }

// EventsStreamed counts n events handed to stream clients.
func (m *Metrics) EventsStreamed(n int) { m.streamed.Add(float64(n)) }

// StreamDropped counts a stream client disconnected for falling behind.
func (m *Metrics) StreamDropped() { m.dropped.Inc() }

// WebhookAttempt records one webhook delivery attempt.
func (m *Metrics) WebhookAttempt(result ports.DeliveryResult, took time.Duration) {
	m.webhooks.WithLabelValues(resultLabel(result)).Inc()
	m.webhookDuration.Observe(took.Seconds())
}

// resultLabel names a delivery result in the result label.
func resultLabel(r ports.DeliveryResult) string {
	switch r {
	case ports.Delivered:
		return "delivered"
	case ports.RetryDelivery:
		return "retry"
	case ports.GiveUp:
		return "gave_up"
	case ports.EndpointGone:
		return "endpoint_gone"
	}
	return "unknown"
}

// scrapeTimeout bounds the outbox query a scrape runs.
const scrapeTimeout = 5 * time.Second

var (
	outboxDepthDesc = prometheus.NewDesc("ordergate_outbox_depth",
		"Orders waiting for placement (unsettled placement jobs), across all instances sharing the database.", nil, nil)
	oldestPendingDesc = prometheus.NewDesc("ordergate_outbox_oldest_pending_age_seconds",
		"Age of the oldest order still waiting for placement; 0 when none waits.", nil, nil)
	breakerDesc = prometheus.NewDesc("ordergate_exchange_circuit_state",
		"Exchange circuit breaker state: 1 for the current state, 0 for the others.", []string{"state"}, nil)
)

// pendingCollector reads an outbox at scrape time: how much is pending,
// and since when.
type pendingCollector struct {
	what          string // in logs: "the outbox"
	depth, oldest *prometheus.Desc
	// read returns the pending count and when the oldest was written
	// (zero when none is pending).
	read  func(ctx context.Context) (int64, time.Time, error)
	clock ports.Clock
	log   *slog.Logger
}

func (c *pendingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.oldest
}

func (c *pendingCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	n, oldest, err := c.read(ctx)
	if err != nil {
		c.log.Error("metrics: read "+c.what, "err", err)
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, c.clock.Now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
}

// breakerCollector reads the circuit breaker's state at scrape time.
type breakerCollector struct {
	gate ports.Gate
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- breakerDesc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.gate.State()
	for _, s := range ports.GateStates() {
		v := 0.0
		if s == now {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, v, string(s))
	}
}

var (
	eventsWrittenDesc = prometheus.NewDesc("ordergate_events_written",
		"Events written to the database by every instance sharing it: the largest event ID assigned.", nil, nil)
	webhookDepthDesc = prometheus.NewDesc("ordergate_webhook_outbox_depth",
		"Webhook deliveries not done yet, across all instances sharing the database.", nil, nil)
	webhookOldestDesc = prometheus.NewDesc("ordergate_webhook_outbox_oldest_pending_age_seconds",
		"Age of the oldest webhook delivery not done yet; 0 when none waits.", nil, nil)
)

// eventsCollector reads the last event ID at scrape time.
type eventsCollector struct {
	last func(context.Context) (domain.EventID, error)
	log  *slog.Logger
}

func (c *eventsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- eventsWrittenDesc }

func (c *eventsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	id, err := c.last(ctx)
	if err != nil {
		c.log.Error("metrics: read the last event ID", "err", err)
		ch <- prometheus.NewInvalidMetric(eventsWrittenDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(eventsWrittenDesc, prometheus.GaugeValue, float64(id))
}
