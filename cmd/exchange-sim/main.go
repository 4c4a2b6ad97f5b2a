// Command exchange-sim serves the simulated stock exchange over HTTP, so
// that ordergate can be tested against an exchange in another process:
//
//	exchange-sim [--addr 127.0.0.1:9090] [--failure-rate 0.1] [--latency 500ms]
//
// POST /orders places an order by client order ID (idempotent), GET /stats
// reports calls, failures, placements and duplicates, GET /healthz answers
// 200. Flags have environment variables: --failure-rate is
// EXCHANGE_SIM_FAILURE_RATE.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/cmd/internal/envflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "exchange-sim:", strings.Join(strings.Fields(err.Error()), " "))
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("exchange-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "address to serve on")
	rate := fs.Float64("failure-rate", 0.1, "share of calls that fail at once (0..1)")
	latency := fs.Duration("latency", 500*time.Millisecond, "how long a successful call takes")
	if err := envflag.Parse(fs, "EXCHANGE_SIM_", args, getenv); err != nil {
		return err
	}
	sim, err := exchange.NewVenue(exchange.VenueConfig{FailureRate: *rate, Latency: *latency})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: exchange.VenueHandler(sim), ReadHeaderTimeout: 5 * time.Second}
	log.Info("listening", "addr", ln.Addr().String(), "failure_rate", *rate, "latency", latency.String())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s := sim.Stats()
	log.Info("stopped", "calls", s.Calls, "failures", s.Failures, "placed", s.Placed, "duplicates", s.Duplicates)
	return nil
}
