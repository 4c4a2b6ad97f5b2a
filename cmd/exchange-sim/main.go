// Command exchange-sim serves the simulated stock exchange over HTTP, so
// that ordergate can be tested against an exchange in another process:
//
//	exchange-sim [--addr 127.0.0.1:9090] [--failure-rate 0.1] [--latency 500ms]
//	             [--price 100.00] [--fill-time 1s] [--order-ttl 1h]
//	             [--cancel-delay 20ms] [--keep 1000000]
//	             [--feed-duplicate 0] [--feed-drop 0] [--feed-reorder 0]
//	             [--feed-disconnect-every 0]
//
// POST /orders places an order by client order ID (idempotent), POST
// /orders/{id}/cancel cancels one, GET /orders/{id} answers the venue's
// record of it, GET /feed?session=&from_seq= is the execution-report feed
// as a WebSocket, GET /stats reports the counters and placements, POST
// /flood fills every working order for the ingestion benchmark, GET
// /healthz answers 200 (see exchange.VenueHandler). Flags have
// environment variables: --failure-rate is EXCHANGE_SIM_FAILURE_RATE.
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
	"github.com/ordergate/ordergate/domain"
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
	var cfg exchange.VenueConfig
	fs.Float64Var(&cfg.FailureRate, "failure-rate", exchange.DefaultFailureRate, "share of placement and cancel calls that fail at once (0..1)")
	fs.DurationVar(&cfg.Latency, "latency", exchange.DefaultLatency, "how long a successful placement or cancel call takes")
	cfg.Price = exchange.DefaultPrice
	fs.Func("price", "the price every instrument is quoted at, a `decimal` (default "+exchange.DefaultPrice.String()+")", func(s string) error {
		p, err := domain.ParsePrice(s)
		if err == nil && p == 0 {
			err = errors.New("must be greater than 0")
		}
		if err != nil {
			var verr *domain.ValidationError
			if errors.As(err, &verr) {
				err = errors.New(verr.Reason) // not the order field ParsePrice names
			}
			return err
		}
		cfg.Price = p
		return nil
	})
	fs.DurationVar(&cfg.FillTime, "fill-time", exchange.DefaultFillTime, "about how long a marketable order takes to fill after its acknowledgement")
	fs.DurationVar(&cfg.OrderTTL, "order-ttl", exchange.DefaultOrderTTL, "how long a limit order that is not marketable rests before it expires (0: until canceled)")
	fs.DurationVar(&cfg.CancelDelay, "cancel-delay", exchange.DefaultCancelDelay, "how long after an accepted cancel the unfilled rest is canceled")
	fs.IntVar(&cfg.Keep, "keep", exchange.DefaultKeep, "how many reports the feed keeps for replay")
	fs.Float64Var(&cfg.Faults.Duplicate, "feed-duplicate", 0, "probability that the feed delivers a report twice (0..1)")
	fs.Float64Var(&cfg.Faults.Drop, "feed-drop", 0, "probability that the feed skips a report (0..1, below 1)")
	fs.IntVar(&cfg.Faults.Reorder, "feed-reorder", 0, "the feed shuffles reports within windows of this many (0: in order)")
	fs.IntVar(&cfg.Faults.DisconnectEvery, "feed-disconnect-every", 0, "the feed disconnects after this many reports (0: never)")
	if err := envflag.Parse(fs, "EXCHANGE_SIM_", args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.Keep < 1 {
		return fmt.Errorf("--keep %d must be at least 1", cfg.Keep)
	}
	v, err := exchange.NewVenue(cfg)
	if err != nil {
		return err
	}
	defer v.Close()
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: exchange.VenueHandler(v), ReadHeaderTimeout: 5 * time.Second}
	log.Info("listening", "addr", ln.Addr().String(), "session", v.Session(),
		"failure_rate", cfg.FailureRate, "latency", cfg.Latency.String(), "price", cfg.Price.String(),
		"fill_time", cfg.FillTime.String(), "order_ttl", cfg.OrderTTL.String(), "cancel_delay", cfg.CancelDelay.String(), "keep", cfg.Keep,
		"feed_duplicate", cfg.Faults.Duplicate, "feed_drop", cfg.Faults.Drop, "feed_reorder", cfg.Faults.Reorder, "feed_disconnect_every", cfg.Faults.DisconnectEvery)
	go func() {
		<-ctx.Done()
		// The venue first: it ends the feed WebSockets, which Shutdown
		// does not wait for.
		_ = v.Close()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s := v.Stats()
	log.Info("stopped", "calls", s.Calls, "failures", s.Failures, "placed", s.Placed, "duplicates", s.Duplicates,
		"cancel_calls", s.CancelCalls, "cancels_accepted", s.CancelsAccepted, "cancels_refused", s.CancelsRefused, "reports", s.Reports)
	return nil
}
