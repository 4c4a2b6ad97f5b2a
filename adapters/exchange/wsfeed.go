package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

var _ ports.Feed = (*WSFeed)(nil)

const (
	// maxFeedMessage bounds one feed message; a report is a few hundred
	// bytes.
	maxFeedMessage = 64 << 10
	// feedHandshakeTimeout bounds the dial and the hello of a subscription
	// within the caller's context.
	feedHandshakeTimeout = 10 * time.Second
)

// WSFeed reads the execution-report feed of an exchange that serves
// VenueHandler's GET /feed WebSocket. It is safe for concurrent use.
type WSFeed struct {
	feed   *url.URL
	client *http.Client
}

// NewWSFeed returns a feed client for the exchange at baseURL (http or
// https; the WebSocket goes to {base}/feed).
func NewWSFeed(baseURL string) (*WSFeed, error) {
	u, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	// Its own transport: feed connections are hijacked for good and must
	// not take from the pool the placement calls use.
	t := http.DefaultTransport.(*http.Transport).Clone()
	return &WSFeed{feed: u.JoinPath("feed"), client: &http.Client{Transport: t}}, nil
}

// Subscribe opens the feed: from the report numbered from if session is
// the venue's current session, from the session's first report otherwise.
// It returns an error wrapping domain.ErrFeedTruncated when the venue
// answers 410 (it no longer keeps that report); other errors are
// transient. The dial and the hello are bounded by ctx and by a timeout of
// their own.
func (f *WSFeed) Subscribe(ctx context.Context, session string, from int64) (ports.Subscription, error) {
	u := *f.feed
	u.RawQuery = url.Values{"session": {session}, "from_seq": {strconv.FormatInt(from, 10)}}.Encode()
	hctx, cancel := context.WithTimeout(ctx, feedHandshakeTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(hctx, u.String(), &websocket.DialOptions{HTTPClient: f.client})
	if resp != nil && resp.Body != nil {
		// Only a refused handshake has a body: its first KiB, in memory.
		defer resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusGone {
			return nil, fmt.Errorf("exchange: feed from report %d of session %q: %s: %w", from, session, answerText(resp), domain.ErrFeedTruncated)
		}
		return nil, fmt.Errorf("exchange: open feed: %w", err)
	}
	c.SetReadLimit(maxFeedMessage)
	typ, msg, err := c.Read(hctx)
	if err != nil {
		_ = c.CloseNow()
		return nil, fmt.Errorf("exchange: feed hello: %w", err)
	}
	var hello feedHello
	if err := json.Unmarshal(msg, &hello); err != nil || typ != websocket.MessageText || hello.Session == "" || hello.FromSeq < 1 {
		_ = c.Close(websocket.StatusProtocolError, "malformed hello")
		return nil, fmt.Errorf("exchange: feed hello %.200q is malformed", msg)
	}
	return &wsSubscription{c: c, hello: hello}, nil
}

// answerText returns the error message of a refused handshake.
func answerText(resp *http.Response) string {
	if resp.Body == nil {
		return resp.Status
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	var answer struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &answer) == nil && answer.Error != "" {
		return answer.Error
	}
	return resp.Status
}

// wsSubscription is one feed WebSocket.
type wsSubscription struct {
	c     *websocket.Conn
	hello feedHello

	mu  sync.Mutex
	err error // ends the subscription
}

// Session names the venue session the sequence numbers belong to, as the
// venue's hello said.
func (s *wsSubscription) Session() string { return s.hello.Session }

// Next reads the next report. Any error ends the subscription, the end of
// ctx included (the WebSocket library closes a connection whose read is
// cut short), and so does a malformed message.
func (s *wsSubscription) Next(ctx context.Context) (domain.Report, error) {
	if err := s.ended(); err != nil {
		return domain.Report{}, err
	}
	typ, msg, err := s.c.Read(ctx)
	if err != nil {
		return domain.Report{}, s.end(fmt.Errorf("exchange: feed: %w", err))
	}
	if typ != websocket.MessageText {
		return domain.Report{}, s.end(errors.New("exchange: feed: a binary message"))
	}
	r, err := decodeReport(msg)
	if err != nil {
		return domain.Report{}, s.end(fmt.Errorf("exchange: feed: %w", err))
	}
	return r, nil
}

func (s *wsSubscription) ended() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// end records err as the subscription's end, closes the connection (no
// close handshake: nothing more is wanted from the venue) and returns err.
func (s *wsSubscription) end(err error) error {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	err = s.err
	s.mu.Unlock()
	_ = s.c.CloseNow()
	return err
}

// Close ends the subscription and wakes a blocked Next.
func (s *wsSubscription) Close() error {
	_ = s.end(errors.New("exchange: feed subscription closed"))
	return nil
}
