package main

import (
	"os"
	"time"

	"github.com/ordergate/ordergate/cmd/internal/proc"
)

// server is a process under test.
type server struct {
	*proc.Process
	url string
}

// startServer starts bin with args. Its logs go to a file in $BENCH_LOGDIR,
// if set, and are never parsed once it listens: the benchmark's CPU is the
// server's too.
func startServer(o opts, bin string, args ...string) (*server, error) {
	// One key sends every request of the run: the limit per key is lifted
	// so that it measures its cost, not its effect.
	po := proc.Options{Env: []string{"ORDERGATE_RATE_LIMIT=1000000", "BENCH_API_KEY=" + o.apiKey}}
	if dir := os.Getenv("BENCH_LOGDIR"); dir != "" {
		if f, err := os.CreateTemp(dir, "server-*.log"); err == nil {
			po.Log = func(line []byte) { _, _ = f.Write(append(line, '\n')) }
		}
	}
	p, err := proc.Start(bin, append([]string{"--log-level", "info"}, args...), po)
	if err != nil {
		return nil, err
	}
	return &server{Process: p, url: p.URL("")}, nil
}

// stop ends the server gracefully.
func (s *server) stop() { _ = s.Stop(60 * time.Second) }

// peakRSS returns the server's peak resident set size in bytes.
func (s *server) peakRSS() int64 { return s.PeakRSS() }
