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

// HTTP places and cancels orders at an exchange that speaks the venue's
// HTTP protocol (VenueHandler): POST {base}/orders with the order and its
// ID as the client order ID, POST {base}/orders/{id}/cancel.
type HTTP struct {
	base   *url.URL
	client *http.Client
}

// NewHTTP returns a client for the exchange at baseURL (http or https).
// timeout bounds each call, connection included.
func NewHTTP(baseURL string, timeout time.Duration) (*HTTP, error) {
	u, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("exchange: timeout %s must be positive", timeout)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// One connection per concurrent call; the dispatcher bounds how many.
	t.MaxIdleConnsPerHost = 1024
	return &HTTP{base: u, client: &http.Client{Timeout: timeout, Transport: t}}, nil
}

// parseBaseURL checks baseURL is an http:// or https:// URL with a host.
func parseBaseURL(baseURL string) (*url.URL, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("exchange: %q is not an http:// or https:// URL", baseURL)
	}
	return u, nil
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
	return h.post(ctx, h.base.JoinPath("orders"), body, "place order "+o.ID.String())
}

// Cancel asks the exchange to cancel the order with the given client order
// ID. Errors are classified as Place's are: a 4xx other than 429 means the
// exchange refused the cancel (an unknown or finished order) and wraps
// domain.ErrRejected.
func (h *HTTP) Cancel(ctx context.Context, id domain.ID) error {
	if id.IsZero() {
		return fmt.Errorf("exchange: order to cancel is missing: %w", domain.ErrRejected)
	}
	return h.post(ctx, h.base.JoinPath("orders", id.String(), "cancel"), nil, "cancel order "+id.String())
}

// post sends body (none if nil) to u and classifies the answer. An answer
// other than success is a StatusError, whose message is the exchange's
// own; what names the call in other errors.
func (h *HTTP) post(ctx context.Context, u *url.URL, body []byte, what string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("exchange: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("exchange: %s: %w", what, err)
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
