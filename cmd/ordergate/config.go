package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/cmd/internal/envflag"
	"github.com/ordergate/ordergate/domain"
)

// Roles an instance can take.
const (
	roleAll        = "all"
	roleAPI        = "api"
	roleDispatcher = "dispatcher"
	roleIngester   = "ingester"
)

// runs reports whether an instance in role runs part (one of the roles
// but all).
func runs(role, part string) bool { return role == roleAll || role == part }

// config is everything the flags and environment set.
type config struct {
	Addr                string
	DB                  string
	Exchange            string
	SimFailureRate      float64
	SimLatency          time.Duration
	SimPrice            domain.Price
	SimFillTime         time.Duration
	SimOrderTTL         time.Duration
	DispatchConcurrency int
	Role                string
	LogLevel            slog.Level
	Lease               time.Duration
	RetryBase           time.Duration
	RetryMax            time.Duration
	ShutdownGrace       time.Duration
	BreakerOpen         time.Duration
	ExchangeTimeout     time.Duration
	RateLimit           float64
	WebhookAllowPrivate bool
	WebhookRetryBase    time.Duration
	WebhookRetryMax     time.Duration
}

// parseConfig reads the environment, then the command-line flags, which win.
// Errors name the flag or variable at fault in one line.
func parseConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c := config{LogLevel: slog.LevelInfo, SimPrice: domain.PriceFromCents(100_00)}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to serve HTTP on")
	fs.StringVar(&c.DB, "db", "ordergate.db", "SQLite file, or a postgres:// or postgresql:// URL")
	fs.StringVar(&c.Exchange, "exchange", "sim", "exchange adapter: sim (the in-process simulator) or the http:// URL of an exchange-sim")
	fs.Float64Var(&c.SimFailureRate, "sim-failure-rate", 0.1, "share of simulator calls that fail at once (0..1)")
	fs.DurationVar(&c.SimLatency, "sim-latency", 500*time.Millisecond, "how long a successful simulator call takes")
	fs.Func("sim-price", "the simulator's one reference price for every instrument, at most 2 decimals (default 100.00)", func(v string) error {
		p, err := domain.ParsePrice(v)
		if err != nil || p <= 0 {
			return errors.New("must be a price above 0 with at most 2 decimals, like 100.00")
		}
		c.SimPrice = p
		return nil
	})
	fs.DurationVar(&c.SimFillTime, "sim-fill-time", time.Second, "about how long the simulator takes to fill a marketable order, in 1 to 3 executions")
	fs.DurationVar(&c.SimOrderTTL, "sim-order-ttl", time.Hour, "how long the simulator rests a limit order that is not marketable before it expires")
	fs.IntVar(&c.DispatchConcurrency, "dispatch-concurrency", app.DefaultConcurrency, "most exchange calls in flight at once")
	fs.StringVar(&c.Role, "role", roleAll, "what this instance runs: api, dispatcher, ingester or all")
	fs.TextVar(&c.LogLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.DurationVar(&c.ExchangeTimeout, "exchange-timeout", app.DefaultCallTimeout, "longest one exchange call may take")
	fs.DurationVar(&c.Lease, "lease", app.DefaultLease, "how long a claimed placement job stays reserved; bounds crash recovery")
	fs.DurationVar(&c.RetryBase, "retry-base", app.DefaultRetryBase, "backoff ceiling after the first failed placement")
	fs.DurationVar(&c.RetryMax, "retry-max", app.DefaultRetryMax, "largest backoff between placement attempts")
	fs.DurationVar(&c.BreakerOpen, "breaker-open", 5*time.Second, "how long the exchange circuit breaker stays open before a probe call")
	fs.Float64Var(&c.RateLimit, "rate-limit", 1000, "requests per second each API key may make, with bursts of twice that; 0 turns the limit off")
	fs.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", false, "let webhooks go to loopback, private and link-local addresses (for tests and closed networks)")
	fs.DurationVar(&c.WebhookRetryBase, "webhook-retry-base", app.DefaultWebhookRetryBase, "backoff ceiling after a webhook delivery's first failure")
	fs.DurationVar(&c.WebhookRetryMax, "webhook-retry-max", app.DefaultWebhookRetryMax, "largest backoff between a webhook delivery's attempts (retried for 72 h in all)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", app.DefaultShutdownGrace, "how long in-flight requests and exchange calls may finish on shutdown")

	if err := envflag.Parse(fs, "ORDERGATE_", args, getenv); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.validate()
}

func (c config) validate() error {
	switch {
	case c.Addr == "":
		return errors.New("--addr must not be empty")
	case c.DB == "":
		return errors.New("--db must not be empty")
	case c.Exchange != "sim" && !strings.HasPrefix(c.Exchange, "http://") && !strings.HasPrefix(c.Exchange, "https://"):
		return fmt.Errorf("--exchange %q is not supported: use sim or an http:// URL", c.Exchange)
	case c.SimFailureRate < 0 || c.SimFailureRate > 1:
		return fmt.Errorf("--sim-failure-rate %v must be between 0 and 1", c.SimFailureRate)
	case c.SimLatency < 0:
		return fmt.Errorf("--sim-latency %s must not be negative", c.SimLatency)
	case c.DispatchConcurrency < 1:
		return fmt.Errorf("--dispatch-concurrency %d must be at least 1", c.DispatchConcurrency)
	case c.Role != roleAll && c.Role != roleAPI && c.Role != roleDispatcher && c.Role != roleIngester:
		return fmt.Errorf("--role %q must be api, dispatcher, ingester or all", c.Role)
	case c.SimFillTime < 0:
		return fmt.Errorf("--sim-fill-time %s must not be negative", c.SimFillTime)
	case c.SimOrderTTL <= 0:
		return fmt.Errorf("--sim-order-ttl %s must be positive", c.SimOrderTTL)
	case c.ExchangeTimeout <= 0:
		return fmt.Errorf("--exchange-timeout %s must be positive", c.ExchangeTimeout)
	case c.Lease <= c.ExchangeTimeout:
		return fmt.Errorf("--lease %s must exceed --exchange-timeout %s", c.Lease, c.ExchangeTimeout)
	case c.RetryBase <= 0:
		return fmt.Errorf("--retry-base %s must be positive", c.RetryBase)
	case c.RetryMax < c.RetryBase:
		return fmt.Errorf("--retry-max %s must be at least --retry-base %s", c.RetryMax, c.RetryBase)
	case c.BreakerOpen <= 0:
		return fmt.Errorf("--breaker-open %s must be positive", c.BreakerOpen)
	case c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0):
		return fmt.Errorf("--rate-limit %v must be 0 (off) or a positive number of requests per second", c.RateLimit)
	case c.WebhookRetryBase <= 0:
		return fmt.Errorf("--webhook-retry-base %s must be positive", c.WebhookRetryBase)
	case c.WebhookRetryMax < c.WebhookRetryBase:
		return fmt.Errorf("--webhook-retry-max %s must be at least --webhook-retry-base %s", c.WebhookRetryMax, c.WebhookRetryBase)
	case c.ShutdownGrace < 0:
		return fmt.Errorf("--shutdown-grace %s must not be negative", c.ShutdownGrace)
	}
	return nil
}
