package exchange_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/domain"
)

// serve serves v on a loopback httptest server closed when the test ends.
func serve(t *testing.T, v *exchange.Venue, opts ...exchange.HandlerOption) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(exchange.VenueHandler(v, opts...))
	// The venue first, so that feed handlers end and the server can close.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = v.Close() })
	return srv
}

func newWSFeed(t *testing.T, srv *httptest.Server) *exchange.WSFeed {
	t.Helper()
	f, err := exchange.NewWSFeed(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// variedVenue returns a venue whose log has every kind of report the
// venue emits: acks, partial and complete fills, a cancel, a refused
// cancel with its reason.
func variedVenue(t *testing.T) *exchange.Venue {
	t.Helper()
	v := newVenue(t, exchange.VenueConfig{Price: 123_45})
	for _, o := range []domain.Order{
		newOrder(t, domain.Market, domain.Buy, nil, 1000),
		newOrder(t, domain.Limit, domain.Sell, cents(100_00), 7),
		newOrder(t, domain.Limit, domain.Buy, cents(1), 3),
	} {
		if err := v.Place(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		_ = v.Cancel(context.Background(), o.ID)
	}
	_ = v.Cancel(context.Background(), domain.NewID(time.Now()))
	return v
}

func TestWSFeedRoundTripsReportsExactly(t *testing.T) {
	v := variedVenue(t)
	srv := serve(t, v)
	log := allReports(t, v)
	sub := subscribe(t, newWSFeed(t, srv), "", 0)
	if sub.Session() != v.Session() {
		t.Errorf("session %q; want %q", sub.Session(), v.Session())
	}
	if diff := cmp.Diff(log, read(t, sub, len(log))); diff != "" {
		t.Fatalf("reports over the WebSocket (-venue +client):\n%s", diff)
	}
	var reasons, fills int
	for _, r := range log {
		if r.Reason != "" {
			reasons++
		}
		if r.LastQty > 0 {
			fills++
		}
	}
	if reasons == 0 || fills == 0 {
		t.Fatalf("the log has %d reasons and %d fills; the test wants both", reasons, fills)
	}

	// Then it waits for new reports.
	o := order(t)
	if err := v.Place(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	live := read(t, sub, 2)
	if diff := cmp.Diff(reportsOf(t, v, o.ID), live); diff != "" {
		t.Errorf("live reports (-venue +client):\n%s", diff)
	}
}

func TestWSFeedReplaysFromAnyKeptReport(t *testing.T) {
	v := variedVenue(t)
	srv := serve(t, v)
	f := newWSFeed(t, srv)
	log := allReports(t, v)
	for from := int64(1); from <= int64(len(log)); from++ {
		sub := subscribe(t, f, v.Session(), from)
		if diff := cmp.Diff(log[from-1:], read(t, sub, len(log)-int(from)+1)); diff != "" {
			t.Fatalf("replay from %d (-venue +client):\n%s", from, diff)
		}
		_ = sub.Close()
	}
}

func TestWSFeedTruncatedIs410(t *testing.T) {
	v := busyVenue(t, exchange.VenueConfig{Keep: 4}, 10)
	srv := serve(t, v)
	_, err := newWSFeed(t, srv).Subscribe(context.Background(), v.Session(), 1)
	if !errors.Is(err, domain.ErrFeedTruncated) {
		t.Errorf("Subscribe from a report no longer kept = %v; want ErrFeedTruncated", err)
	}
	resp, err := http.Get(srv.URL + "/feed?session=" + v.Session() + "&from_seq=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("GET /feed from a report no longer kept answered %d; want 410", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/feed?from_seq=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET /feed?from_seq=x answered %d; want 400", resp.StatusCode)
	}
}

func TestWSFeedFaultsAndEndings(t *testing.T) {
	t.Run("disconnect every N", func(t *testing.T) {
		v := busyVenue(t, exchange.VenueConfig{Faults: exchange.FeedFaults{DisconnectEvery: 5}}, 20)
		srv := serve(t, v)
		sub := subscribe(t, newWSFeed(t, srv), v.Session(), 2)
		if got := seqs(read(t, sub, 5)); !cmp.Equal(got, []int64{2, 3, 4, 5, 6}) {
			t.Errorf("before the disconnect: %v", got)
		}
		if _, err := sub.Next(context.Background()); err == nil {
			t.Error("Next after 5 deliveries succeeded; want the disconnect")
		}
		if _, err := sub.Next(context.Background()); err == nil {
			t.Error("Next after the disconnect succeeded; want the subscription ended")
		}
	})

	t.Run("venue closes", func(t *testing.T) {
		v := newVenue(t, exchange.VenueConfig{})
		srv := serve(t, v)
		sub := subscribe(t, newWSFeed(t, srv), "", 1)
		done := make(chan error, 1)
		go func() { _, err := sub.Next(context.Background()); done <- err }()
		_ = v.Close()
		select {
		case err := <-done:
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Errorf("Next = %v; want the venue going away", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Next did not end when the venue closed")
		}
	})

	t.Run("client closes", func(t *testing.T) {
		v := newVenue(t, exchange.VenueConfig{})
		srv := serve(t, v)
		sub := subscribe(t, newWSFeed(t, srv), "", 1)
		waitFor(t, "the server to subscribe", func() bool { return v.Stats().Subscriptions == 1 })
		done := make(chan error, 1)
		go func() { _, err := sub.Next(context.Background()); done <- err }()
		_ = sub.Close()
		select {
		case err := <-done:
			if err == nil {
				t.Error("Next returned a report after Close")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not wake Next")
		}
		// The server notices and lets its subscription go.
		waitFor(t, "the server to unsubscribe", func() bool { return v.Stats().Subscriptions == 0 })
	})

	t.Run("context ends Next", func(t *testing.T) {
		v := newVenue(t, exchange.VenueConfig{})
		srv := serve(t, v)
		sub := subscribe(t, newWSFeed(t, srv), "", 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if _, err := sub.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Next = %v; want the deadline", err)
		}
	})
}

// TestWSFeedSlowReaderIsDisconnected keeps a subscriber that never reads:
// the venue has far more reports than the sockets between them hold, so
// the server's write times out and it drops the subscriber instead of
// holding its reports.
func TestWSFeedSlowReaderIsDisconnected(t *testing.T) {
	v, _ := workingVenue(t, 5000, 0, 20)
	if _, err := v.Flood(20, 0); err != nil {
		t.Fatal(err)
	}
	total := v.Stats().Reports
	srv := serve(t, v, exchange.WithFeedWriteTimeout(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, srv.URL+"/feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.CloseNow() }()
	waitFor(t, "the server to subscribe", func() bool { return v.Stats().Subscriptions == 1 })
	waitFor(t, "the server to drop the slow subscriber", func() bool { return v.Stats().Subscriptions == 0 })

	// What was in flight can still be read; then the connection ends, well
	// short of the venue's reports.
	var got int64
	for ; got <= total; got++ {
		if _, _, err := c.Read(ctx); err != nil {
			break
		}
	}
	if got == 0 || got >= total {
		t.Errorf("read %d messages of %d reports before the end; want some, not all", got, total)
	}
	t.Logf("the slow subscriber got %d of %d reports", got, total)
}

// fakeVenue serves a feed WebSocket that says what the test wants.
func fakeVenue(t *testing.T, msgs ...string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.CloseNow() }()
		ctx := c.CloseRead(r.Context())
		for _, m := range msgs {
			typ := websocket.MessageText
			if strings.HasPrefix(m, "binary:") {
				typ, m = websocket.MessageBinary, strings.TrimPrefix(m, "binary:")
			}
			if err := c.Write(ctx, typ, []byte(m)); err != nil {
				return
			}
		}
		<-ctx.Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWSFeedRefusesMalformedMessages(t *testing.T) {
	const hello = `{"session":"s","from_seq":1}`
	const good = `{"seq":1,"exec_id":"s-1","order_id":"0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11","kind":"partial_fill","last_qty":2,"last_price":"100.10","cum_qty":2,"leaves_qty":3,"at":"2026-11-24T10:15:30.123456789Z"}`
	t.Run("a good one", func(t *testing.T) {
		sub := subscribe(t, newWSFeed(t, fakeVenue(t, hello, good)), "", 1)
		id, _ := domain.ParseID("0193a5c2-7d1e-7c3a-9b2f-1f6f0e2a8c11")
		want := domain.Report{Seq: 1, ExecID: "s-1", OrderID: id, Kind: domain.ReportPartialFill, LastQty: 2, LastPrice: 100_10, CumQty: 2, LeavesQty: 3, At: time.Date(2026, 11, 24, 10, 15, 30, 123456789, time.UTC)}
		if diff := cmp.Diff(want, read(t, sub, 1)[0]); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
	})
	bad := map[string]string{
		"price as a number":    strings.Replace(good, `"100.10"`, `100.10`, 1),
		"price of 3 decimals":  strings.Replace(good, `"100.10"`, `"100.101"`, 1),
		"price missing":        strings.Replace(good, `"last_price":"100.10",`, ``, 1),
		"quantity as a float":  strings.Replace(good, `"last_qty":2`, `"last_qty":2.0`, 1),
		"quantity as a string": strings.Replace(good, `"last_qty":2`, `"last_qty":"2"`, 1),
		"unknown kind":         strings.Replace(good, `"partial_fill"`, `"trade"`, 1),
		"fill of nothing":      strings.Replace(good, `"last_qty":2`, `"last_qty":0`, 1),
		"no exec_id":           strings.Replace(good, `"exec_id":"s-1",`, ``, 1),
		"seq 0":                strings.Replace(good, `"seq":1`, `"seq":0`, 1),
		"bad order_id":         strings.Replace(good, `0193a5c2-`, `xyz-`, 1),
		"bad time":             strings.Replace(good, `2026-11-24T10:15:30.123456789Z`, `yesterday`, 1),
		"not JSON":             `{"seq":`,
		"trailing data":        good + `{}`,
		"binary":               "binary:" + good,
		"too big":              `{"seq":1,"reason":"` + strings.Repeat("x", 100<<10) + `"}`,
	}
	for name, msg := range bad {
		t.Run(name, func(t *testing.T) {
			sub := subscribe(t, newWSFeed(t, fakeVenue(t, hello, msg, good)), "", 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if r, err := sub.Next(ctx); err == nil {
				t.Fatalf("Next = %+v; want an error", r)
			}
			// The subscription ended: the good report after it is not read.
			if _, err := sub.Next(ctx); err == nil {
				t.Error("Next after a malformed message succeeded")
			}
		})
	}

	for name, h := range map[string]string{
		"no session":     `{"session":"","from_seq":1}`,
		"from_seq 0":     `{"session":"s","from_seq":0}`,
		"not JSON":       `hello`,
		"binary message": "binary:" + hello,
	} {
		t.Run("hello with "+name, func(t *testing.T) {
			if _, err := newWSFeed(t, fakeVenue(t, h)).Subscribe(context.Background(), "", 1); err == nil {
				t.Error("Subscribe succeeded")
			}
		})
	}
}

func TestNewWSFeedValidates(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "127.0.0.1:9090", "http://"} {
		if _, err := exchange.NewWSFeed(u); err == nil {
			t.Errorf("NewWSFeed(%q) succeeded", u)
		}
	}
}
