package main

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
)

// benchAuth measures section 9: what authenticating every request costs
// POST /orders. The same server (the real HTTP API and store, no
// dispatcher) runs with each kind of authentication on a fresh database
// holding the run's key: "off" takes the key as valid without a lookup,
// "cached" is the server's authenticator (a store lookup per key per
// second, a SHA-256 and a cache hit otherwise), "uncached" looks the key
// up in the store on every request. Each is measured side by side with
// "off": both servers run at once, each loaded by half the clients, so
// that whatever else the machine does slows both alike and the ratio of
// their throughputs is the ratio of their costs. Three rounds each; the
// median ratio counts.
func benchAuth(o opts, fresh func(string) (string, func(), error), client *http.Client, add adder) error {
	const rounds = 3
	for _, mode := range []string{"cached", "uncached"} {
		var ratios []float64
		var base, with result
		for round := range rounds {
			b, w, err := sideBySide(o, fresh, client, fmt.Sprintf("%s%d", mode, round), "off", mode)
			if err != nil {
				return err
			}
			ratios = append(ratios, w.rate()/b.rate())
			base, with = b, w
		}
		slices.Sort(ratios)
		ratio := fmt.Sprintf("%.2f of off (median of %d rounds: %.2f to %.2f)", ratios[rounds/2], rounds, ratios[0], ratios[rounds-1])
		switch mode {
		case "cached":
			add("9a POST, real store, authentication off (no lookup), beside 9b", latencies(base), "", "")
			add("9b POST, real store, API key authenticated (1 s cache)", latencies(with), ratio, ">= 0.90")
		default:
			add("9c POST, real store, key looked up in the store on every request (no cache)", latencies(with), ratio, "")
		}
	}
	return nil
}

// sideBySide loads two serve-store servers, one per mode, at the same
// time for o.d, each with half the clients, and returns their results.
func sideBySide(o opts, fresh func(string) (string, func(), error), client *http.Client, tag, modeA, modeB string) (a, b result, err error) {
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, mode := range []string{modeA, modeB} {
		dsn, cleanup, err := fresh("auth" + mode + tag)
		if err != nil {
			return a, b, err
		}
		defer cleanup()
		s, err := startServer(o, o.self, "serve-store", dsn, mode)
		if err != nil {
			return a, b, err
		}
		servers = append(servers, s)
	}
	post := func(s *server) func() error { return func() error { return postOrder(client, s.url) } }
	var wg sync.WaitGroup
	wg.Go(func() { a = closedLoop(o.workers/2, o.d, post(servers[0])) })
	b = closedLoop(o.workers/2, o.d, post(servers[1]))
	wg.Wait()
	return a, b, nil
}
