package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// streamAccounts is how many accounts stream their events in section 10,
// one client each.
const streamAccounts = 200

// benchEvents measures section 10: the event stream's fan-out and the
// webhook senders' throughput.
//
// 10a and 10b load POST /orders, spread over 200 accounts, on two fresh
// servers side by side (both at once, each loaded by half the clients, so
// that whatever else the machine does slows both alike): one without
// stream clients, one with each account's stream connected. Three rounds;
// the median ratio is what streaming costs order intake. 10c offers half
// of 10a's rate to the last round's server with the streams and measures
// how many events a second reach the clients and their lag from the
// change to the client. Each account has one stream, as a broker's
// back-end would: an event goes to the one client of its account. 10d
// registers a webhook to a receiver in this process and measures
// deliveries per second until the outbox is empty.
func benchEvents(o opts, fresh func(string) (string, func(), error), add adder) error {
	const rounds = 3
	client := newClient(4*o.workers, o.apiKey)
	var ratios []float64
	var base, with result
	var last *eventsRound
	defer func() {
		if last != nil {
			last.close()
		}
	}()
	for round := range rounds {
		if last != nil {
			last.close()
		}
		r, err := newEventsRound(o, fresh, round)
		last = r
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		wg.Go(func() { base = closedLoop(o.workers/2, o.d, postAs(client, r.plain.url, r.keys)) })
		with = closedLoop(o.workers/2, o.d, postAs(client, r.streaming.url, r.keys))
		wg.Wait()
		ratios = append(ratios, with.rate()/base.rate())
	}
	slices.Sort(ratios)
	add(fmt.Sprintf("10a POST over %d accounts, no stream clients, beside 10b", streamAccounts), latencies(base), "", "")
	add(fmt.Sprintf("10b POST over %d accounts, each streaming its events", streamAccounts), latencies(with),
		fmt.Sprintf("%.2f of 10a (median of %d rounds: %.2f to %.2f)", ratios[rounds/2], rounds, ratios[0], ratios[rounds-1]), ">= 0.90")

	// 10c. Half of what one server took alone: both took half the clients.
	rssStreams := last.streaming.peakRSS()
	last.plain.stop()
	last.streams.reset()
	rate := (base.rate() + with.rate()) / 2
	half := openLoop(rate, o.d, 4*o.workers, postAs(client, last.streaming.url, last.keys))
	time.Sleep(time.Second) // the last events of the load reach the clients
	n, lag, dropped := last.streams.figures()
	add(fmt.Sprintf("10c stream delivery at half of 10a+10b (%.0f orders/s)", rate),
		fmt.Sprintf("%.0f events/s to clients; lag p50 %s, p99 %s over %d events; %d clients dropped; POST p99 %s",
			float64(n)/half.elapsed.Seconds(), fmtDur(time.Duration(lag.ValueAtQuantile(50))*time.Microsecond),
			fmtDur(time.Duration(lag.ValueAtQuantile(99))*time.Microsecond), n, dropped, half.pct(99)),
		"", "p99 <= 100ms")
	add(fmt.Sprintf("10e peak RSS of the server with %d streams, all roles and the feed, through 10b", streamAccounts),
		fmt.Sprintf("%.1f MB", float64(max(rssStreams, last.streaming.peakRSS()))/(1<<20)), "", "<= 100 MB")
	last.close()
	last = nil

	// 10d. Webhook deliveries to a fast receiver on loopback.
	return benchWebhooks(o, fresh, add)
}

// eventsRound is one round of 10a and 10b: two servers on fresh
// databases holding the same accounts' keys, the second with every
// account's stream connected.
type eventsRound struct {
	keys             []string
	stored           []domain.APIKey
	plain, streaming *server
	streams          *streamSet
	cleanups         []func()
}

func newEventsRound(o opts, fresh func(string) (string, func(), error), round int) (*eventsRound, error) {
	r := &eventsRound{}
	var err error
	for i, tag := range []string{"events_plain", "events_streams"} {
		dsn, cleanup, ferr := fresh(fmt.Sprintf("%s%d", tag, round))
		if ferr != nil {
			return r, ferr
		}
		r.cleanups = append(r.cleanups, cleanup)
		if i == 0 {
			if r.keys, r.stored, err = accountKeys(dsn, streamAccounts); err != nil {
				return r, err
			}
		} else if err = storeKeys(dsn, r.stored); err != nil {
			return r, err
		}
		s, serr := startServer(o, o.bin, "--db", dsn)
		if serr != nil {
			return r, serr
		}
		if i == 0 {
			r.plain = s
		} else {
			r.streaming = s
		}
	}
	r.streams, err = connectStreams(r.streaming.url, r.keys)
	return r, err
}

// close stops the round's streams and servers and drops its databases.
func (r *eventsRound) close() {
	if r.streams != nil {
		r.streams.close()
	}
	for _, s := range []*server{r.plain, r.streaming} {
		if s != nil {
			s.stop()
		}
	}
	for _, c := range r.cleanups {
		c()
	}
}

// accountKeys stores a key for each of n accounts in the database at dsn
// and returns the keys, as clients send them and as stored.
func accountKeys(dsn string, n int) ([]string, []domain.APIKey, error) {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	keys, stored := make([]string, n), make([]domain.APIKey, n)
	for i := range keys {
		keys[i], stored[i] = domain.NewAPIKey(domain.Account(fmt.Sprintf("acct%03d", i)), time.Now())
		if err := db.CreateKey(ctx, stored[i]); err != nil {
			return nil, nil, err
		}
	}
	return keys, stored, nil
}

// storeKeys stores keys made by accountKeys in another database.
func storeKeys(dsn string, keys []domain.APIKey) error {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, k := range keys {
		if err := db.CreateKey(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// postAs returns an op that POSTs an order with the next account's key,
// round robin.
func postAs(c *http.Client, url string, keys []string) func() error {
	var next atomic.Uint64
	return func() error {
		key := keys[next.Add(1)%uint64(len(keys))]
		req, err := http.NewRequest(http.MethodPost, url+"/orders", strings.NewReader(orderBody))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		return created(c.Do(req))
	}
}

// streamSet is one GET /events connection per account, counting the
// events they receive and each one's lag from its occurred_at.
type streamSet struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	n       int64
	lag     *hdrhistogram.Histogram
	dropped int
}

// connectStreams opens every account's stream and returns once all are
// connected.
func connectStreams(url string, keys []string) (*streamSet, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &streamSet{cancel: cancel, lag: newHist()}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost, t.MaxConnsPerHost = len(keys), 0
	c := &http.Client{Transport: t}
	connected := make(chan error, len(keys))
	for _, key := range keys {
		s.wg.Go(func() { s.read(ctx, c, url, key, connected) })
	}
	for range keys {
		if err := <-connected; err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// read follows one stream until ctx ends, noting each event's lag.
func (s *streamSet) read(ctx context.Context, c *http.Client, url, key string, connected chan<- error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/events", nil)
	if err != nil {
		connected <- err
		return
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		connected <- err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		connected <- fmt.Errorf("GET /events = %d", resp.StatusCode)
		return
	}
	connected <- nil
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	const field = `"occurred_at":"`
	for sc.Scan() {
		line := sc.Bytes()
		i := strings.Index(string(line), field)
		if i < 0 {
			continue
		}
		rest := string(line[i+len(field):])
		at, err := time.Parse(time.RFC3339Nano, rest[:strings.IndexByte(rest, '"')])
		if err != nil {
			continue
		}
		lag := time.Since(at)
		s.mu.Lock()
		s.n++
		_ = s.lag.RecordValue(max(lag.Microseconds(), 1))
		s.mu.Unlock()
	}
	if ctx.Err() == nil && !errors.Is(sc.Err(), context.Canceled) {
		s.mu.Lock()
		s.dropped++ // the server ended the stream: this client fell behind
		s.mu.Unlock()
	}
}

// reset starts counting afresh.
func (s *streamSet) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n, s.lag, s.dropped = 0, newHist(), 0
}

// figures returns the events received since reset, their lags and the
// clients the server dropped.
func (s *streamSet) figures() (int64, *hdrhistogram.Histogram, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.lag, s.dropped
}

// close hangs every stream up and waits for the readers.
func (s *streamSet) close() {
	s.cancel()
	s.wg.Wait()
}

// benchWebhooks measures 10d.
func benchWebhooks(o opts, fresh func(string) (string, func(), error), add adder) error {
	dsn, cleanup, err := fresh("webhooks")
	if err != nil {
		return err
	}
	defer cleanup()
	var delivered atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rcv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = rcv.Serve(ln) }()
	defer rcv.Close()

	srv, err := startServer(o, o.bin, "--db", dsn, "--webhook-allow-private", "--sim-latency", "10ms", "--sim-failure-rate", "0")
	if err != nil {
		return err
	}
	defer srv.stop()
	client := newClient(4*o.workers, o.apiKey)
	req, _ := http.NewRequest(http.MethodPost, srv.url+"/webhooks", strings.NewReader(fmt.Sprintf(`{"url":"http://%s/hook"}`, ln.Addr())))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /webhooks = %d", resp.StatusCode)
	}
	n := o.dispatchN / 4
	began := time.Now()
	if err := fill(o.workers, n, func() error { return postOrder(client, srv.url) }); err != nil {
		return err
	}
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	// Drained: every order ended or resting, and no delivery pending.
	var stats ports.DeliveryStats
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("10d: %d deliveries still pending after 5 minutes", stats.Pending)
		}
		if stats, err = db.DeliveryStats(context.Background()); err != nil {
			return err
		}
		if pending, err := db.OutboxStats(context.Background()); err == nil && stats.Pending == 0 && pending.Pending == 0 && delivered.Load() >= int64(n) {
			break
		}
	}
	took := time.Since(began)
	add(fmt.Sprintf("10d webhook deliveries to one fast receiver (%d orders)", n),
		fmt.Sprintf("%.0f deliveries/s (%d in %s)", float64(delivered.Load())/took.Seconds(), delivered.Load(), took.Round(time.Millisecond)), "", "")
	return nil
}
