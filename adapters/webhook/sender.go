package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

var _ ports.WebhookSender = (*Sender)(nil)

// ErrRefusedAddress is the error of a request to an address deliveries may
// not go to: loopback, private, link-local and the like.
var ErrRefusedAddress = errors.New("webhook: refused address: not a public address")

// maxResponseBody is the most of an endpoint's answer read: only its status
// matters, and reading a little lets the connection be reused.
const maxResponseBody = 64 << 10

// Sender POSTs webhook deliveries. It uses no proxy, follows no redirect
// (a 3xx is an answer like any other non-2xx) and refuses, when it
// connects, any address that is not public unless private addresses are
// allowed.
type Sender struct {
	client *http.Client
}

// NewSender returns a Sender; allowPrivate lets it connect to loopback and
// private addresses (for tests and closed networks).
func NewSender(allowPrivate bool) *Sender {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = refuseNonPublic
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    4,
		MaxConnsPerHost:        0,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Sender{client: &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// refuseNonPublic is the dialer's Control hook: it runs with the resolved
// address about to be connected to, after any DNS answer.
func refuseNonPublic(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrRefusedAddress, address)
	}
	ip := net.ParseIP(host)
	if ip == nil || !domain.PublicAddress(ip) {
		return fmt.Errorf("%w: %s", ErrRefusedAddress, host)
	}
	return nil
}

// Send POSTs body to url with headers and returns the status answered. It
// reads at most 64 KiB of the answer. err is a failure to get an answer:
// one wrapping ErrRefusedAddress for an address that is not public.
func (s *Sender) Send(ctx context.Context, url string, headers map[string]string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhook: request: %w", err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("webhook: post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// CloseIdleConnections closes the connections kept open for reuse.
func (s *Sender) CloseIdleConnections() { s.client.CloseIdleConnections() }
