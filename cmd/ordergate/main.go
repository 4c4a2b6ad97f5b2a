// Command ordergate serves the ordergate HTTP API and places every accepted
// order at the exchange.
//
// Usage:
//
//	ordergate [flags]          serve (apply migrations, then run the API and dispatcher)
//	ordergate migrate [flags]  apply database migrations and exit
//	ordergate openapi          print the OpenAPI document as YAML
//	ordergate healthcheck      exit 0 if the instance at --addr answers /healthz (for container health checks)
//	ordergate keys create --account NAME | list | revoke KEY_ID
//	                           manage API keys (only a new key goes to stdout)
//
// Every flag has an environment variable: --sim-failure-rate is
// ORDERGATE_SIM_FAILURE_RATE. Run "ordergate -h" for the list.
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

	"go.uber.org/dig"
	"go.uber.org/fx"

	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/adapters/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			// One line, whatever the driver wrote: operators grep for it.
			fmt.Fprintln(os.Stderr, "ordergate:", strings.Join(strings.Fields(err.Error()), " "))
		}
		os.Exit(2)
	}
}

// run is the whole program: main only supplies the process's context,
// arguments, environment and output streams, so tests can call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "serve", "migrate", "openapi", "healthcheck", "keys":
			cmd, args = args[0], args[1:]
		}
	}
	switch cmd {
	case "keys":
		return runKeys(ctx, args, getenv, stdout, stderr)
	case "openapi":
		if len(args) > 0 {
			return fmt.Errorf("openapi takes no arguments, got %q", args[0])
		}
		doc, err := httpapi.OpenAPI() //nolint:contextcheck // builds the document; no request is served
		if err != nil {
			return err
		}
		_, err = stdout.Write(doc)
		return err
	case "healthcheck":
		c, err := parseConfig("ordergate healthcheck", args, getenv, stderr)
		if err != nil {
			return err
		}
		return healthcheck(ctx, c.Addr)
	case "migrate":
		c, err := parseConfig("ordergate migrate", args, getenv, stderr)
		if err != nil {
			return err
		}
		log := newLogger(stderr, c.LogLevel)
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		db, err := openStore(ctx, c.DB)
		if err != nil {
			return err
		}
		defer db.Close()
		log.Info("migrations applied", "db", store.Redact(c.DB), "dialect", db.Dialect())
		return nil
	default:
		c, err := parseConfig("ordergate", args, getenv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, c, newLogger(stderr, c.LogLevel), stdout)
	}
}

// healthcheck asks the instance serving on addr for /healthz. A wildcard
// host (0.0.0.0, ::, empty) is reached on loopback.
func healthcheck(ctx context.Context, addr string) error {
	hostPort, err := dialAddr(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: --addr %q: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + hostPort + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	return nil
}

// dialAddr is the address a client on this machine reaches a server
// listening on addr at: a wildcard host (0.0.0.0, ::, empty) is loopback.
func dialAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// newLogger logs text to a terminal and JSON to anything else, where a log
// collector is more likely to read it than a person.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, opts))
		}
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// openStore opens the database and brings its schema up to date.
func openStore(ctx context.Context, dsn string) (*store.DB, error) {
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// serve runs the service until ctx is cancelled (SIGINT or SIGTERM) or a
// component fails, then shuts down gracefully. The first key a fresh
// database is given is printed to stdout, and nothing else is.
func serve(ctx context.Context, c config, log *slog.Logger, stdout io.Writer) error {
	fxApp := newApp(c, log, fx.Replace(firstKeyOut{stdout}))
	if err := fxApp.Err(); err != nil {
		return dig.RootCause(err) // the component's own error, not fx's wrapping
	}
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := fxApp.Start(startCtx); err != nil {
		return dig.RootCause(err)
	}
	var failed error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", c.ShutdownGrace)
	case sig := <-fxApp.Wait():
		if sig.ExitCode != 0 {
			failed = fmt.Errorf("stopped after a component failed (exit code %d)", sig.ExitCode)
		}
	}
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), fxApp.StopTimeout())
	defer cancelStop()
	if err := fxApp.Stop(stopCtx); err != nil {
		return errors.Join(failed, fmt.Errorf("shutdown: %w", err))
	}
	log.Info("stopped")
	return failed
}
