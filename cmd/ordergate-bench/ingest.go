package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/cmd/internal/proc"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// restingBody is an order the simulated venue rests (a buy below its price)
// until the benchmark floods it with fills.
func restingBody(qty int) string {
	return fmt.Sprintf(`{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":90.00,"quantity":%d}`, qty)
}

// ingestBatch is the ingester's default batch size, which the ceiling
// uses too.
const ingestBatch = 512

// benchIngest measures section 8: how fast the ingester applies the
// venue's reports, against the store applying the same batches without a
// feed (8a, 8b); the lag from a report's venue time to its commit at half
// that rate (8c); and the memory of the process ingesting a backlog the
// database is slower than (8d).
func benchIngest(o opts, fresh func(string) (string, func(), error), client *http.Client, add adder) error {
	n, perOrder := 20_000, 10
	if o.short {
		n = 1_000
	}
	ceiling, err := ingestCeiling(fresh, n, perOrder)
	if err != nil {
		return fmt.Errorf("8a: %w", err)
	}
	add(fmt.Sprintf("8a ingest ceiling (%d reports through ApplyReports, no feed)", n*perOrder), fmt.Sprintf("%.0f reports/s", ceiling), "", "")

	dsn, cleanup, err := fresh("ingest")
	if err != nil {
		return err
	}
	defer cleanup()
	sim, err := proc.Start(o.sim, []string{"--latency", "0s", "--failure-rate", "0", "--order-ttl", "1h"}, proc.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = sim.Stop(time.Minute) }()
	srv, err := startServer(o, o.bin, "--db", dsn, "--exchange", sim.URL(""))
	if err != nil {
		return err
	}
	defer srv.stop()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	// The orders, placed and acknowledged, then the flood.
	if err := restingOrders(client, srv.url, o.workers, n, perOrder, sim, db); err != nil {
		return err
	}
	rssBefore := rss(srv.Process)
	peak := make(chan int64)
	stopSampling := make(chan struct{})
	go func() { // the server's resident memory while the backlog waits
		var most int64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				most = max(most, rss(srv.Process))
			case <-stopSampling:
				peak <- most
				return
			}
		}
	}()
	began := time.Now()
	reports, err := flood(client, sim, perOrder, 0)
	if err == nil {
		err = caughtUp(sim, db, 10*time.Minute)
	}
	took := time.Since(began)
	close(stopSampling)
	rssPeak := <-peak
	if err != nil {
		return err
	}
	rate := float64(reports) / took.Seconds()
	add(fmt.Sprintf("8b ingest through the feed (%d-report backlog)", reports), fmt.Sprintf("%.0f reports/s in %s", rate, took.Round(time.Millisecond)),
		fmt.Sprintf("%.2f of 8a", rate/ceiling), ">= 10000/s, >= 0.70")
	add(fmt.Sprintf("8d RSS of the server while a %d-report backlog waits", reports), fmt.Sprintf("%.1f MB at most (%.1f MB before the flood)", float64(rssPeak)/(1<<20), float64(rssBefore)/(1<<20)),
		"", "bounded (<= 100 MB)")

	// 8c. Lag at half that rate: new orders, flooded at rate/2 for about
	// as long as a run lasts.
	m := int(rate / 2 * o.d.Seconds() / float64(perOrder))
	m = max(10, min(m, n))
	if err := restingOrders(client, srv.url, o.workers, m, perOrder, sim, db); err != nil {
		return err
	}
	before, err := lagHistogram(srv.url)
	if err != nil {
		return err
	}
	if _, err := flood(client, sim, perOrder, rate/2); err != nil {
		return err
	}
	// The paced flood returns at once; its reports arrive over about o.d.
	time.Sleep(time.Duration(float64(m*perOrder) / (rate / 2) * float64(time.Second)))
	if err := caughtUp(sim, db, 10*time.Minute); err != nil {
		return err
	}
	after, err := lagHistogram(srv.url)
	if err != nil {
		return err
	}
	lag := after.minus(before)
	add(fmt.Sprintf("8c feed lag at half that rate (%.0f reports/s)", rate/2), fmt.Sprintf("p50 %s, p99 %s over %d reports", fmtDur(lag.quantile(0.5)), fmtDur(lag.quantile(0.99)), int64(lag.count)), "", "p99 <= 100ms")

	// 8e. POST while the feed floods at its full rate, against POST alone
	// on the same server just before and just after: ingestion must not
	// take order intake's share of the machine.
	post := func() error { return postOrder(client, srv.url) }
	alone1 := closedLoop(o.workers, o.d, post)
	m = max(10, min(int(rate*o.d.Seconds()/float64(perOrder)), n))
	if err := restingOrders(client, srv.url, o.workers, m, perOrder, sim, db); err != nil {
		return err
	}
	if _, err := flood(client, sim, perOrder, 0); err != nil {
		return err
	}
	during := closedLoop(o.workers, o.d, post)
	if err := caughtUp(sim, db, 10*time.Minute); err != nil {
		return err
	}
	alone2 := closedLoop(o.workers, o.d, post)
	alone := (alone1.rate() + alone2.rate()) / 2
	add(fmt.Sprintf("8e POST while the feed floods (%d reports at full rate)", m*perOrder), latencies(during),
		fmt.Sprintf("%.2f of POST alone (%.0f/s, before and after)", during.rate()/alone, alone), ">= 0.80")
	return nil
}

// ingestCeiling applies acknowledgements and then perOrder fills for n
// orders straight through the store, in batches of the ingester's size,
// and returns the fills' rate: the same writes the ingester makes, without
// the feed.
func ingestCeiling(fresh func(string) (string, func(), error), n, perOrder int) (float64, error) {
	ctx := context.Background()
	dsn, cleanup, err := fresh("ingestceiling")
	if err != nil {
		return 0, err
	}
	defer cleanup()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	orders := make([]domain.Order, n)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	next := make(chan int)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p := domain.PriceFromCents(9000)
				o, err := domain.New(domain.NewID(time.Now()), time.Now(), domain.Spec{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: &p, Quantity: int64(perOrder)})
				if err == nil {
					o.Account = domain.DefaultAccount
					err = db.Create(ctx, o)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				orders[i] = o
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	var seq int64
	apply := func(rs []domain.Report) error {
		for len(rs) > 0 {
			k := min(ingestBatch, len(rs))
			if _, err := db.ApplyReports(ctx, ports.Batch{Session: "bench", After: seq, Reports: rs[:k], At: time.Now()}); err != nil {
				return err
			}
			seq += int64(k)
			rs = rs[k:]
		}
		return nil
	}
	report := func(o domain.Order, kind domain.ReportKind, qty int64) domain.Report {
		r := domain.Report{OrderID: o.ID, Kind: kind, LastQty: qty, At: time.Now()}
		if qty > 0 {
			r.LastPrice = domain.PriceFromCents(9000)
		}
		return r
	}
	number := func(rs []domain.Report, from int64) {
		for i := range rs {
			rs[i].Seq = from + int64(i) + 1
			rs[i].ExecID = "bench-" + strconv.FormatInt(rs[i].Seq, 10)
		}
	}
	acks := make([]domain.Report, n)
	for i, o := range orders {
		acks[i] = report(o, domain.ReportAck, 0)
	}
	number(acks, 0)
	if err := apply(acks); err != nil {
		return 0, err
	}
	// Fills round-robin across the orders, as the venue's flood sends them.
	fills := make([]domain.Report, 0, n*perOrder)
	for k := range perOrder {
		kind := domain.ReportPartialFill
		if k == perOrder-1 {
			kind = domain.ReportFill
		}
		for _, o := range orders {
			fills = append(fills, report(o, kind, 1))
		}
	}
	number(fills, seq)
	began := time.Now()
	if err := apply(fills); err != nil {
		return 0, err
	}
	return float64(len(fills)) / time.Since(began).Seconds(), nil
}

// rss returns the process's resident set size now (VmRSS), in bytes.
func rss(p *proc.Process) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

// restingOrders posts n resting orders of qty and waits until the venue
// placed them all and the ingester applied every report so far.
func restingOrders(client *http.Client, base string, workers, n, qty int, sim *proc.Process, db *store.DB) error {
	var placedBefore int64
	if s, err := simStats(sim); err == nil {
		placedBefore = s.Placed
	}
	body := restingBody(qty)
	if err := fill(workers, n, func() error {
		resp, err := client.Post(base+"/orders", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST /orders = %d", resp.StatusCode)
		}
		return nil
	}); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		s, err := simStats(sim)
		if err != nil {
			return err
		}
		if s.Placed-placedBefore >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the venue placed %d of %d orders in 10 minutes", s.Placed-placedBefore, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return caughtUp(sim, db, 10*time.Minute)
}

// venueStats is the part of exchange-sim's /stats the benchmark reads.
type venueStats struct {
	Placed  int64 `json:"placed"`
	Reports int64 `json:"reports"`
}

func simStats(sim *proc.Process) (venueStats, error) {
	var s venueStats
	resp, err := http.Get(sim.URL("/stats"))
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// flood asks the venue for perOrder fills of every working order, at rate
// reports a second (0: all at once), and returns how many reports that
// makes the venue's log hold in all.
func flood(client *http.Client, sim *proc.Process, perOrder int, rate float64) (int64, error) {
	body, _ := json.Marshal(map[string]any{"per_order": perOrder, "rate": rate})
	resp, err := client.Post(sim.URL("/flood"), "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	var out struct {
		Fills int64 `json:"fills"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	switch {
	case err != nil:
		return 0, fmt.Errorf("POST /flood: %w", err)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("POST /flood = %d", resp.StatusCode)
	}
	return out.Fills, nil
}

// caughtUp waits until the ingester applied every report the venue holds.
func caughtUp(sim *proc.Process, db *store.DB, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		s, err := simStats(sim)
		if err != nil {
			return err
		}
		var applied int64
		if err := db.Bun().NewRaw("SELECT coalesce(max(last_seq), 0) FROM feed_positions").Scan(context.Background(), &applied); err != nil {
			return err
		}
		if applied >= s.Reports {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the ingester applied %d of %d reports in %s", applied, s.Reports, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// histogram is a Prometheus histogram read from /metrics: cumulative
// counts by upper bound.
type histogram struct {
	bounds []float64
	counts []float64
	count  float64
}

// lagHistogram reads ordergate_feed_lag_seconds from the server.
func lagHistogram(base string) (histogram, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return histogram{}, err
	}
	defer resp.Body.Close()
	var h histogram
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, `ordergate_feed_lag_seconds_bucket{le="`):
			rest := strings.TrimPrefix(line, `ordergate_feed_lag_seconds_bucket{le="`)
			le, val, _ := strings.Cut(rest, `"} `)
			b, err := strconv.ParseFloat(le, 64)
			if err != nil {
				continue // +Inf
			}
			v, _ := strconv.ParseFloat(val, 64)
			h.bounds, h.counts = append(h.bounds, b), append(h.counts, v)
		case strings.HasPrefix(line, "ordergate_feed_lag_seconds_count "):
			h.count, _ = strconv.ParseFloat(strings.TrimPrefix(line, "ordergate_feed_lag_seconds_count "), 64)
		}
	}
	sort.Sort(byBound(h))
	return h, sc.Err()
}

type byBound histogram

func (b byBound) Len() int           { return len(b.bounds) }
func (b byBound) Less(i, j int) bool { return b.bounds[i] < b.bounds[j] }
func (b byBound) Swap(i, j int) {
	b.bounds[i], b.bounds[j] = b.bounds[j], b.bounds[i]
	b.counts[i], b.counts[j] = b.counts[j], b.counts[i]
}

// minus returns the observations made after before.
func (h histogram) minus(before histogram) histogram {
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)), count: h.count - before.count}
	for i := range h.counts {
		out.counts[i] = h.counts[i]
		if i < len(before.counts) {
			out.counts[i] -= before.counts[i]
		}
	}
	return out
}

// quantile interpolates the q-quantile linearly within its bucket, as
// Prometheus's histogram_quantile does.
func (h histogram) quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := q * h.count
	lower, below := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			frac := (rank - below) / max(c-below, 1)
			return time.Duration((lower + frac*(h.bounds[i]-lower)) * float64(time.Second))
		}
		lower, below = h.bounds[i], c
	}
	return time.Duration(lower * float64(time.Second)) // beyond the last bound
}
