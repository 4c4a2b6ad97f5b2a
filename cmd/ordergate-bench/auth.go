package main

import (
	"fmt"
	"net/http"
)

// benchAuth measures section 9: what authenticating every request costs
// POST /orders. The same server (the real HTTP API and store, no
// dispatcher) runs three times on fresh databases holding the run's key:
// with the key taken as valid without a lookup, with the server's
// authenticator (a store lookup per key per second, a cache hit and a
// SHA-256 otherwise), and with a store lookup per request. Each runs
// twice, interleaved, and the better run counts, so that a slow patch of
// the machine does not decide the ratio.
func benchAuth(o opts, fresh func(string) (string, func(), error), client *http.Client, add adder) error {
	modes := []string{"off", "cached", "uncached"}
	best := map[string]result{}
	for round := range 2 {
		for _, mode := range modes {
			dsn, cleanup, err := fresh(fmt.Sprintf("auth%s%d", mode, round))
			if err != nil {
				return err
			}
			s, err := startServer(o, o.self, "serve-store", dsn, mode)
			if err != nil {
				cleanup()
				return err
			}
			r := closedLoop(o.workers, o.d, func() error { return postOrder(client, s.url) })
			s.stop()
			cleanup()
			if b, ok := best[mode]; !ok || r.rate() > b.rate() {
				best[mode] = r
			}
		}
	}
	off := best["off"]
	add("9a POST, real store, authentication off (no lookup)", latencies(off), "", "")
	add("9b POST, real store, API key authenticated (1 s cache)", latencies(best["cached"]), fmt.Sprintf("%.2f of 9a", best["cached"].rate()/off.rate()), ">= 0.90")
	add("9c POST, real store, key looked up in the store every request", latencies(best["uncached"]), fmt.Sprintf("%.2f of 9a", best["uncached"].rate()/off.rate()), "")
	return nil
}
