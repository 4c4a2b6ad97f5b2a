package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// result is one measured run.
type result struct {
	ops      int64
	errors   int64
	elapsed  time.Duration
	hist     *hdrhistogram.Histogram // microseconds
	firstErr string
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) }

func (r result) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func (r result) pct(q float64) string {
	if r.hist == nil || r.hist.TotalCount() == 0 {
		return "-"
	}
	return fmtDur(time.Duration(r.hist.ValueAtQuantile(q)) * time.Microsecond)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

const orderBody = `{"type":"limit","side":"buy","instrument":"US0378331005","limit_price":123.45,"quantity":10}`

// newClient returns a client of up to conns connections a host that sends
// key with every request, as an API client would.
func newClient(conns int, key string) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns
	t.MaxConnsPerHost = conns
	return &http.Client{Transport: bearer{key: "Bearer " + key, next: t}, Timeout: 30 * time.Second}
}

// bearer adds an Authorization header to each request.
type bearer struct {
	key  string
	next http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" { // the request's own key
		return b.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", b.key)
	return b.next.RoundTrip(r)
}

func postOrder(c *http.Client, url string) error {
	return created(c.Post(url+"/orders", "application/json", strings.NewReader(orderBody)))
}

// created reads and closes the answer to a POST /orders, and returns an
// error unless it was 201.
func created(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// closedLoop runs workers that each repeat op back to back for d: the
// throughput the target sustains at that concurrency.
func closedLoop(workers int, d time.Duration, op func() error) result {
	var ops, errs atomic.Int64
	var mu sync.Mutex
	var firstErr string
	hist := newHist()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	began := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := newHist()
			for ctx.Err() == nil {
				t := time.Now()
				err := op()
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				ops.Add(1)
				_ = local.RecordValue(time.Since(t).Microseconds())
			}
			mu.Lock()
			hist.Merge(local)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{ops: ops.Load(), errors: errs.Load(), elapsed: time.Since(began), hist: hist, firstErr: firstErr}
}

// openLoop sends op at a fixed rate for d, whatever the answers, and
// measures each latency from when the request was due, so a stall counts
// against every request it delays (no coordinated omission).
func openLoop(rate float64, d time.Duration, maxInFlight int, op func() error) result {
	var ops, errs atomic.Int64
	var mu sync.Mutex
	hist := newHist()
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range n {
		due := began.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := op(); err != nil {
				errs.Add(1)
				return
			}
			ops.Add(1)
			mu.Lock()
			_ = hist.RecordValue(time.Since(due).Microseconds())
			mu.Unlock()
		}()
	}
	wg.Wait()
	return result{ops: ops.Load(), errors: errs.Load(), elapsed: time.Since(began), hist: hist}
}
