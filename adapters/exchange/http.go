package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

var _ ports.Exchange = (*HTTP)(nil)

// HTTP places orders at an exchange that speaks the simulator's HTTP
// protocol (SimHandler): POST {base}/orders with the order and its ID as the
// client order ID.
type HTTP struct {
	endpoint string
	client   *http.Client
}

// NewHTTP returns a client for the exchange at baseURL (http or https).
// timeout bounds each call, connection included.
func NewHTTP(baseURL string, timeout time.Duration) (*HTTP, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("exchange: %q is not an http:// or https:// URL", baseURL)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("exchange: timeout %s must be positive", timeout)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// One connection per concurrent call; the dispatcher bounds how many.
	t.MaxIdleConnsPerHost = 1024
	return &HTTP{
		endpoint: u.JoinPath("orders").String(),
		client:   &http.Client{Timeout: timeout, Transport: t},
	}, nil
}

// Place sends o. Connection errors, timeouts, 429 and 5xx answers are
// transient; any other 4xx means the exchange refused the order and wraps
// domain.ErrRejected.
func (h *HTTP) Place(ctx context.Context, o domain.Order) error {
	if o.ID.IsZero() {
		return fmt.Errorf("exchange: order is missing: %w", domain.ErrRejected)
	}
	body, err := json.Marshal(toPlaceRequest(o))
	if err != nil {
		return fmt.Errorf("exchange: encode order %s: %w", o.ID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("exchange: place order %s: %w", o.ID, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var answer struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(msg, &answer)
	if answer.Error == "" {
		answer.Error = string(bytes.TrimSpace(msg))
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &StatusError{Code: resp.StatusCode, Message: answer.Error}
	default:
		return fmt.Errorf("%w: %w", &StatusError{Code: resp.StatusCode, Message: answer.Error}, domain.ErrRejected)
	}
}

// StatusError is an exchange answer other than success.
type StatusError struct {
	Code    int
	Message string
}

// Error implements error.
func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("exchange answered %d", e.Code)
	}
	return fmt.Sprintf("exchange answered %d: %s", e.Code, e.Message)
}
