// Command ordergate-bench measures ordergate against its own limits and
// prints a table of figures and ratios measured side by side in one run:
//
//	go run ./cmd/ordergate-bench [--short] [--postgres URL]
//
// For SQLite, and for PostgreSQL when --postgres (or
// ORDERGATE_TEST_POSTGRES_DSN) is set, it measures: the HTTP ceiling (the
// same Huma stack and validation with storage switched off, in a server
// process of its own) and the storage ceiling (the store's Create called
// directly); POST /orders through the real server; latency at half the
// measured peak; POST with the exchange failing every call and with 10 s
// calls; dispatch throughput against the exchange-bound ideal and the time
// from commit to placed; POST throughput and claim time with a million
// orders stored; the server's peak RSS; and how fast the ingester applies
// the exchange's execution reports, against the store applying the same
// batches without a feed, the feed's lag at half that rate, and the
// ingester's memory while a backlog waits. Loopback only; every load is
// bounded in time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/cmd/internal/proc"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

func main() {
	// The servers the benchmark runs as its own child processes are told
	// which by a word among the flags proc.Start adds (--addr and so on).
	var err error
	switch i := slices.IndexFunc(os.Args, func(a string) bool { return a == "serve-ceiling" || a == "serve-store" }); {
	case i < 0:
		err = run(os.Args[1:])
	case os.Args[i] == "serve-ceiling":
		err = serveCeiling()
	case i+2 < len(os.Args):
		err = serveStore(os.Args[i+1], os.Args[i+2], os.Getenv("BENCH_API_KEY"))
	default:
		err = errors.New("usage: serve-store DSN off|cached|uncached")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ordergate-bench:", err)
		os.Exit(1)
	}
}

type opts struct {
	short       bool
	postgres    string
	bin, self   string
	sim         string // the exchange-sim binary
	workers     int
	d           time.Duration
	dispatchN   int
	scaleN      int
	concurrency int // the dispatcher's, ordergate's default
	only        string
	// apiKey is the run's one API key, sent with every request; key is
	// its stored form, put in every fresh database.
	apiKey string
	key    domain.APIKey
}

// want reports whether section (1..7) is to run.
func (o opts) want(section string) bool {
	return o.only == "" || strings.Contains(","+o.only+",", ","+section+",")
}

func run(args []string) error {
	var o opts
	fs := flag.NewFlagSet("ordergate-bench", flag.ContinueOnError)
	fs.BoolVar(&o.short, "short", os.Getenv("BENCH_SHORT") == "1", "smoke-test sizes: the whole run in under a minute, figures not meaningful")
	fs.StringVar(&o.postgres, "postgres", os.Getenv("ORDERGATE_TEST_POSTGRES_DSN"), "PostgreSQL URL; empty skips PostgreSQL")
	fs.IntVar(&o.workers, "concurrency", 64, "concurrent HTTP clients and store callers")
	fs.StringVar(&o.only, "only", "", "comma-separated sections to run, e.g. 5 or 1,2,3 (2 and 3 need 1; 4 needs 2; 8 is the feed's ingestion; 9 what authentication costs; 10 the event stream and webhooks)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.d, o.dispatchN, o.scaleN, o.concurrency = 10*time.Second, 12000, 1_000_000, app.DefaultConcurrency
	o.apiKey, o.key = domain.NewAPIKey(domain.DefaultAccount, time.Now())
	if o.short {
		o.d, o.dispatchN, o.scaleN = time.Second, 300, 5000
	}
	dir, err := os.MkdirTemp("", "ordergate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.bin, err = proc.Build(dir, "ordergate", "./cmd/ordergate"); err != nil {
		return err
	}
	if o.sim, err = proc.Build(dir, "exchange-sim", "./cmd/exchange-sim"); err != nil {
		return err
	}
	if o.self, err = os.Executable(); err != nil {
		return err
	}

	host, _ := os.Hostname()
	fmt.Printf("ordergate-bench on %s: %d CPUs, %s, concurrency %d, %s per run, short=%v\n\n", host, numCPU(), goVersion(), o.workers, o.d, o.short)
	for _, db := range []string{store.SQLite, store.Postgres} {
		if db == store.Postgres && o.postgres == "" {
			fmt.Println("PostgreSQL: skipped (no --postgres or ORDERGATE_TEST_POSTGRES_DSN)")
			continue
		}
		fresh := func(tag string) (string, func(), error) { return freshDB(o, dir, db, tag) }
		if err := benchDB(o, db, fresh); err != nil {
			return fmt.Errorf("%s: %w", db, err)
		}
	}
	return nil
}

// serveCeiling serves the real HTTP API with a store that keeps nothing
// and no key lookup: the most POST /orders can do with storage switched
// off.
func serveCeiling() error {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	svc := app.NewService(nullStore{}, nil, app.SystemClock{}, nil)
	return listenAndServe(httpapi.Handler(svc, anyKey{}, httpapi.Health{DB: nullStore{}}, log), log)
}

// serveStore serves the real HTTP API over the store at dsn, without a
// dispatcher, authenticating as mode says: "off" takes every request's key
// as valid without a lookup; "cached" is the server's Authenticator (a
// lookup per key per second); "uncached" looks every request's key up in
// the store. key is added to the store for "off" so that the three serve
// the same database.
func serveStore(dsn, mode, key string) error {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	clock := app.SystemClock{}
	var auth httpapi.Authenticator
	switch mode {
	case "off":
		auth = anyKey{}
	case "cached", "uncached":
		cfg := app.AuthConfig{Logger: log}
		if mode == "uncached" {
			cfg.CacheTTL = time.Nanosecond
		}
		a, err := app.NewAuthenticator(db, clock, cfg)
		if err != nil {
			return err
		}
		go a.Run(ctx)
		auth = a
	default:
		return fmt.Errorf("serve-store: unknown mode %q", mode)
	}
	if _, err := auth.Authenticate(ctx, key); err != nil {
		return fmt.Errorf("serve-store: the run's key: %w", err)
	}
	svc := app.NewService(db, db, clock, nil)
	return listenAndServe(httpapi.Handler(svc, auth, httpapi.Health{DB: db}, log, httpapi.WithRateLimit(1e6, 2e6)), log)
}

// listenAndServe serves h on a loopback port it logs as proc expects.
func listenAndServe(h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String())
	return (&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}).Serve(ln)
}

// anyKey takes every key as the default account's, without looking it
// up: authentication switched off.
type anyKey struct{}

func (anyKey) Authenticate(context.Context, string) (domain.APIKey, error) {
	return domain.APIKey{ID: "key_bench", Account: domain.DefaultAccount}, nil
}

type nullStore struct{}

func (nullStore) Create(context.Context, domain.Order) error { return nil }
func (nullStore) Order(context.Context, domain.Account, domain.ID) (domain.Order, error) {
	return domain.Order{}, domain.ErrNotFound
}
func (nullStore) List(context.Context, ports.ListQuery) ([]domain.Order, error) { return nil, nil }
func (nullStore) Cancel(context.Context, domain.Account, domain.ID, ports.CancelFunc) (domain.Order, error) {
	return domain.Order{}, domain.ErrNotFound
}
func (nullStore) Ping(context.Context) error { return nil }
