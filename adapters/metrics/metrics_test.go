package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ordergate/ordergate/adapters/metrics"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
	"github.com/ordergate/ordergate/ports/mocks"
)

var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// scrape serves m's exposition and parses it.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// value returns the series of family name with label values want: a
// counter's or gauge's value, a histogram's sample count.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("the exposition has no %s", name)
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("%s has no series %v", name, want)
	return 0
}

func TestEventMetricsAppearInTheExposition(t *testing.T) {
	m := metrics.New(metrics.Config{
		Clock: &mocks.ClockMock{NowFunc: func() time.Time { return now }},
		LastEventID: func(context.Context) (domain.EventID, error) {
			return 1234, nil
		},
		DeliveryStats: func(context.Context) (ports.DeliveryStats, error) {
			return ports.DeliveryStats{Pending: 17, Oldest: now.Add(-90 * time.Second)}, nil
		},
	})
	var em ports.EventMetrics = m
	em.StreamOpened()
	em.StreamOpened()
	em.StreamOpened()
	em.StreamClosed()
	em.EventsStreamed(5)
	em.EventsStreamed(2)
	em.StreamDropped()
	em.WebhookAttempt(ports.Delivered, 20*time.Millisecond)
	em.WebhookAttempt(ports.Delivered, 30*time.Millisecond)
	em.WebhookAttempt(ports.RetryDelivery, time.Second)
	em.WebhookAttempt(ports.EndpointGone, time.Millisecond)

	mfs := scrape(t, m)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ordergate_event_streams", nil, 2},
		{"ordergate_events_streamed_total", nil, 7},
		{"ordergate_event_streams_dropped_total", nil, 1},
		{"ordergate_webhook_attempts_total", map[string]string{"result": "delivered"}, 2},
		{"ordergate_webhook_attempts_total", map[string]string{"result": "retry"}, 1},
		{"ordergate_webhook_attempts_total", map[string]string{"result": "endpoint_gone"}, 1},
		{"ordergate_webhook_attempts_total", map[string]string{"result": "gave_up"}, 0},
		{"ordergate_webhook_attempt_duration_seconds", nil, 4},
		{"ordergate_events_written", nil, 1234},
		{"ordergate_webhook_outbox_depth", nil, 17},
		{"ordergate_webhook_outbox_oldest_pending_age_seconds", nil, 90},
	}
	for _, tt := range tests {
		if got := value(t, mfs, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v; want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

func TestEventScrapeGaugesWithAnEmptyOutbox(t *testing.T) {
	m := metrics.New(metrics.Config{
		LastEventID:   func(context.Context) (domain.EventID, error) { return 0, nil },
		DeliveryStats: func(context.Context) (ports.DeliveryStats, error) { return ports.DeliveryStats{}, nil },
	})
	mfs := scrape(t, m)
	for _, name := range []string{"ordergate_events_written", "ordergate_webhook_outbox_depth", "ordergate_webhook_outbox_oldest_pending_age_seconds"} {
		if got := value(t, mfs, name, nil); got != 0 {
			t.Errorf("%s = %v; want 0", name, got)
		}
	}
}

func TestEventScrapeGaugesAreOptional(t *testing.T) {
	mfs := scrape(t, metrics.New(metrics.Config{}))
	for _, name := range []string{"ordergate_events_written", "ordergate_webhook_outbox_depth"} {
		if _, ok := mfs[name]; ok {
			t.Errorf("%s exported without a source", name)
		}
	}
}

func TestEventScrapeFailureFailsTheScrape(t *testing.T) {
	m := metrics.New(metrics.Config{
		DeliveryStats: func(context.Context) (ports.DeliveryStats, error) {
			return ports.DeliveryStats{}, errors.New("database is locked")
		},
	})
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("GET /metrics with a failing source = %d; want 500, as for the order outbox", rec.Code)
	}
}
