package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/adapters/httpapi"
	"github.com/ordergate/ordergate/adapters/metrics"
	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/webhook"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// newApp composes the service from its modules. Extra options let tests
// replace or decorate any part (fx.Replace, fx.Decorate).
func newApp(c config, log *slog.Logger, extra ...fx.Option) *fx.App {
	return fx.New(appOptions(c, log, extra...)...)
}

// appOptions lists the modules an instance in c.Role runs.
func appOptions(c config, log *slog.Logger, extra ...fx.Option) []fx.Option {
	opts := []fx.Option{
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log}
			l.UseLogLevel(slog.LevelDebug)
			// run reports a failed start-up in one line; fx's own account is detail.
			l.UseErrorLevel(slog.LevelDebug)
			return l
		}),
		// Stopping waits for the HTTP server and then the dispatcher, each
		// allowed the grace period, plus time to record outcomes and to
		// finish the ingester's batch.
		fx.StopTimeout(2*c.ShutdownGrace + 15*time.Second),
		fx.Supply(c, log, firstKeyOut{io.Discard}, &serverStopping{ch: make(chan struct{})}),
		storeModule,
		exchangeModule,
		metricsModule,
		serviceModule,
	}
	if runs(c.Role, roleDispatcher) {
		opts = append(opts, dispatcherModule)
	} else {
		opts = append(opts, fx.Supply(waker(nil)))
	}
	if runs(c.Role, roleIngester) {
		opts = append(opts, ingesterModule)
	}
	if runs(c.Role, roleAPI) {
		opts = append(opts, httpModule)
	} else {
		opts = append(opts, opsHTTPModule)
	}
	return append(opts, extra...)
}

// eventsWritten wakes the event sequencer after this process's commits
// that wrote events (store.DB.WrittenSignal); readers wait for
// ports.EventSignal, which says the events are readable.
type eventsWritten struct{ ports.EventSignal }

// waker is called after each committed order; nil when this instance runs
// no dispatcher (the dispatcher elsewhere finds the order by polling).
type waker func()

var storeModule = fx.Module("store",
	fx.Provide(
		func(lc fx.Lifecycle, c config, log *slog.Logger) (*store.DB, error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			db, err := openStore(ctx, c.DB)
			if err != nil {
				return nil, err
			}
			log.Info("database ready", "db", store.Redact(c.DB), "dialect", db.Dialect())
			lc.Append(fx.StopHook(db.Close))
			return db, nil
		},
		func(db *store.DB) ports.Orders { return db },
		func(db *store.DB) ports.Outbox { return db },
		func(db *store.DB) ports.Keys { return db },
		func(db *store.DB) ports.OutboxStater { return db },
		func(db *store.DB) ports.Executions { return db },
		func(db *store.DB) ports.Leases { return db },
		func(db *store.DB) ports.APIKeys { return db },
		func(db *store.DB) ports.KeyLookup { return db },
		func(db *store.DB) ports.Events { return db },
		func(db *store.DB) ports.EventSignal { return db },
		func(db *store.DB) eventsWritten { return eventsWritten{db.WrittenSignal()} },
		func(db *store.DB) ports.Webhooks { return db },
		func(db *store.DB) ports.Deliveries { return db },
		func(db *store.DB, b *exchange.Breaker) httpapi.Health {
			return httpapi.Health{DB: db, Exchange: b}
		},
		// Every instance reads the database's clock, so that due times and
		// leases mean the same to all of them whatever their own clocks say.
		func(db *store.DB) (ports.Clock, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return db.Clock(ctx, app.SystemClock{})
		},
	),
)

var exchangeModule = fx.Module("exchange",
	fx.Provide(
		func(b *exchange.Breaker) ports.Exchange { return b },
		func(lc fx.Lifecycle, c config, log *slog.Logger) (*exchange.Breaker, ports.Feed, venue, error) {
			calls, feed, name, err := newExchange(lc, c, log)
			if err != nil {
				return nil, nil, "", err
			}
			return exchange.NewBreaker(calls, exchange.BreakerConfig{OpenFor: c.BreakerOpen, Quiet: c.BreakerOpen, Logger: log}), feed, name, nil
		},
	),
)

// venue names the exchange for the ingester's lease: one ingester per
// venue is active across the instances sharing a database.
type venue string

// newExchange returns the exchange --exchange names: the in-process venue,
// which is its own feed, or an exchange-sim's HTTP API and WebSocket feed;
// and the venue's name. Each process has an in-process venue of its own,
// so its name is its session's.
func newExchange(lc fx.Lifecycle, c config, log *slog.Logger) (ports.Exchange, ports.Feed, venue, error) {
	if c.Exchange != "sim" {
		calls, err := exchange.NewHTTP(c.Exchange, c.ExchangeTimeout)
		if err != nil {
			return nil, nil, "", err
		}
		feed, err := exchange.NewWSFeed(c.Exchange)
		if err != nil {
			return nil, nil, "", err
		}
		return calls, feed, venue(c.Exchange), nil
	}
	v, err := exchange.NewVenue(exchange.VenueConfig{
		FailureRate: c.SimFailureRate,
		Latency:     c.SimLatency,
		Price:       c.SimPrice,
		FillTime:    c.SimFillTime,
		OrderTTL:    c.SimOrderTTL,
		CancelDelay: 50 * time.Millisecond,
	})
	if err != nil {
		return nil, nil, "", err
	}
	lc.Append(fx.StopHook(func() error {
		s := v.Stats()
		log.Info("simulated exchange stats", "calls", s.Calls, "failures", s.Failures, "placed", s.Placed, "duplicates", s.Duplicates)
		return v.Close()
	}))
	return v, v, venue("sim:" + v.Session()), nil
}

// metricsModule provides the Prometheus registry that every other module
// reports to and /metrics serves.
var metricsModule = fx.Module("metrics",
	fx.Provide(
		func(outbox ports.OutboxStater, events ports.Events, deliveries ports.Deliveries, b *exchange.Breaker, clock ports.Clock, log *slog.Logger) *metrics.Metrics {
			return metrics.New(metrics.Config{
				Outbox: outbox, Breaker: b, Clock: clock, Logger: log,
				LastEventID: events.LastEventID, DeliveryStats: deliveries.DeliveryStats,
			})
		},
		func(m *metrics.Metrics) ports.EventMetrics { return m },
		func(m *metrics.Metrics) ports.Metrics { return m },
		func(m *metrics.Metrics) ports.FeedMetrics { return m },
	),
)

var serviceModule = fx.Module("service",
	fx.Provide(func(c config, orders ports.Orders, keys ports.Keys, events ports.Events, hooks ports.Webhooks, clock ports.Clock, wake waker, m ports.Metrics) *app.Service {
		return app.NewService(orders, keys, clock, wake, app.WithMetrics(m),
			app.WithEvents(events), app.WithWebhooks(hooks, webhook.NewGuard(c.WebhookAllowPrivate, nil)))
	}),
	fx.Invoke(func(lc fx.Lifecycle, keys ports.Keys, events ports.Events, written eventsWritten, clock ports.Clock, log *slog.Logger) {
		runInBackground(lc, "idempotency key purge", func(ctx context.Context) {
			app.PurgeKeys(ctx, keys, clock, app.DefaultKeyRetention, time.Hour, log)
		})
		runInBackground(lc, "event purge", func(ctx context.Context) {
			app.PurgeEvents(ctx, events, clock, domain.EventRetention, time.Hour, log)
		})
		// Every role writes events (creates, settles, fills); on
		// PostgreSQL each instance gives its own their IDs after commit,
		// and picks up any another instance left behind.
		runInBackground(lc, "event sequencer", func(ctx context.Context) {
			app.RunEventSequencer(ctx, events, written.EventSignal, 0, log)
		})
	}),
)

var dispatcherModule = fx.Module("dispatcher",
	fx.Provide(
		func(lc fx.Lifecycle, c config, log *slog.Logger, outbox ports.Outbox, ex ports.Exchange, gate *exchange.Breaker, clock ports.Clock, m ports.Metrics) (*app.Dispatcher, error) {
			d, err := app.NewDispatcher(outbox, ex, clock, app.DispatcherConfig{
				Concurrency:   c.DispatchConcurrency,
				Lease:         c.Lease,
				CallTimeout:   c.ExchangeTimeout,
				RetryBase:     c.RetryBase,
				RetryMax:      c.RetryMax,
				ShutdownGrace: c.ShutdownGrace,
				Logger:        log,
				Metrics:       m,
				Gate:          gate,
			})
			if err != nil {
				return nil, err
			}
			// The dispatcher owns its context; OnStop cancels it and waits.
			runInBackground(lc, "dispatcher", func(ctx context.Context) { _ = d.Run(ctx) })
			return d, nil
		},
		func(d *app.Dispatcher) waker { return d.Wake },
		func(lc fx.Lifecycle, c config, log *slog.Logger, deliveries ports.Deliveries, signal ports.EventSignal, clock ports.Clock, m ports.EventMetrics) *app.WebhookDispatcher {
			sender := webhook.NewSender(c.WebhookAllowPrivate)
			wd := app.NewWebhookDispatcher(deliveries, sender, clock, m, log, app.WebhookConfig{
				Render: httpapi.EventJSON, RetryBase: c.WebhookRetryBase, RetryMax: c.WebhookRetryMax,
			})
			runInBackground(lc, "webhook sender", func(ctx context.Context) { _ = wd.Run(ctx) })
			runInBackground(lc, "webhook wake-up", func(ctx context.Context) { app.WakeOnEvents(ctx, signal, wd.Wake) })
			lc.Append(fx.StopHook(sender.CloseIdleConnections))
			return wd
		},
	),
	fx.Invoke(func(*app.Dispatcher, *app.WebhookDispatcher) {}),
)

var ingesterModule = fx.Module("ingester",
	fx.Provide(
		func(lc fx.Lifecycle, log *slog.Logger, feed ports.Feed, name venue, execs ports.Executions, leases ports.Leases, clock ports.Clock, m ports.FeedMetrics) (*app.Ingester, error) {
			in, err := app.NewIngester(feed, execs, leases, clock, app.IngesterConfig{Venue: string(name), Logger: log, Metrics: m})
			if err != nil {
				return nil, err
			}
			runInBackground(lc, "ingester", func(ctx context.Context) { _ = in.Run(ctx) })
			return in, nil
		},
	),
	fx.Invoke(func(*app.Ingester) {}),
)

var httpModule = fx.Module("http",
	fx.Provide(
		func(lc fx.Lifecycle, keys ports.KeyLookup, clock ports.Clock, log *slog.Logger) (*app.Authenticator, error) {
			a, err := app.NewAuthenticator(keys, clock, app.AuthConfig{Logger: log})
			if err != nil {
				return nil, err
			}
			// Run writes the keys' last-used times, off the requests' path.
			runInBackground(lc, "api key last-used writer", a.Run)
			return a, nil
		},
		// The hub reads new events once for every stream of this instance.
		func(lc fx.Lifecycle, events ports.Events, signal ports.EventSignal, m ports.EventMetrics, log *slog.Logger) *app.EventHub {
			hub := app.NewEventHub(events, signal, m, log, app.HubConfig{})
			runInBackground(lc, "event hub", func(ctx context.Context) { _ = hub.Run(ctx) })
			return hub
		},
		func(c config, svc *app.Service, auth *app.Authenticator, hub *app.EventHub, stopping *serverStopping, h httpapi.Health, log *slog.Logger, m *metrics.Metrics) http.Handler {
			opts := []httpapi.Option{httpapi.WithMetrics(m, m), httpapi.WithEvents(hub), httpapi.WithShutdown(stopping.ch)}
			if c.RateLimit > 0 {
				opts = append(opts, httpapi.WithRateLimit(c.RateLimit, rateBurst(c.RateLimit)))
			}
			return httpapi.Handler(svc, auth, h, log, opts...)
		},
	),
	fx.Invoke(createFirstKey, startServer),
)

// rateBurst is the burst a key may make at perSecond: twice the rate, and
// at least one request.
func rateBurst(perSecond float64) int { return max(1, int(math.Ceil(2*perSecond))) }

// firstKeyOut is where the first key of a fresh database is printed: the
// process's stdout, which carries nothing else.
type firstKeyOut struct{ io.Writer }

// createFirstKey gives a database that never had an API key one, for the
// account "default", and prints it once to stdout: a fresh install is
// usable at once, and no later start (of this or any instance) prints a
// key again. The log names only the key's id.
func createFirstKey(keys ports.APIKeys, clock ports.Clock, out firstKeyOut, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, k := domain.NewAPIKey(domain.DefaultAccount, clock.Now())
	created, err := keys.CreateFirstKey(ctx, k)
	if err != nil || !created {
		return err
	}
	log.Info("created the first API key", "key_id", k.ID, "account", k.Account)
	_, err = fmt.Fprintf(out, firstKeyBanner, k.Account, key)
	return err
}

// firstKeyBanner frames the first key on stdout, with how to use it.
const firstKeyBanner = `
================================================================================
 ordergate created the first API key of this database, for the account %q.
 It is shown this once and stored only as a hash: keep it now.

     %s

 Send it with every order request, as the header
     Authorization: Bearer <the key above>
 (README's quick start: export KEY=<the key above>, then curl -H "Authorization: Bearer $KEY" ...)

 More keys: ordergate keys create --account NAME (see README, "API keys").
================================================================================

`

var opsHTTPModule = fx.Module("http",
	fx.Provide(func(h httpapi.Health, log *slog.Logger, m *metrics.Metrics) http.Handler {
		return httpapi.OpsHandler(h, log, httpapi.WithMetrics(m, m))
	}),
	fx.Invoke(startServer),
)

// startServer listens in OnStart, so a taken port fails start-up, and shuts
// down gracefully in OnStop: no new connections, in-flight requests finish.
func startServer(lc fx.Lifecycle, sd fx.Shutdowner, c config, h http.Handler, stopping *serverStopping, log *slog.Logger) {
	srv := newServer(h, log)
	// Shutdown waits for requests to finish, and an event stream never
	// does by itself: closing stopping ends the streams.
	srv.RegisterOnShutdown(stopping.close)
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", c.Addr)
			if err != nil {
				return err
			}
			log.Info("listening", "addr", ln.Addr().String(), "role", c.Role)
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("http server failed", "err", err)
					_ = sd.Shutdown(fx.ExitCode(1))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			grace, cancel := context.WithTimeout(ctx, c.ShutdownGrace)
			defer cancel()
			if err := srv.Shutdown(grace); err != nil {
				// Still open after the grace: a request that outlived it, or
				// a connection a client opened and never used (net/http
				// waits 5 s for those). Neither is owed more time.
				log.Warn("closing connections still open after the shutdown grace", "err", err)
				return srv.Close()
			}
			return nil
		},
	})
}

// newServer bounds every phase of a connection, so slow or idle clients
// cannot hold the server's resources: headers must arrive within 5 s, a
// request (body included, at most 64 KiB) within 30 s.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serverStopping is closed when the HTTP server begins to shut down.
type serverStopping struct {
	ch   chan struct{}
	once sync.Once
}

func (s *serverStopping) close() { s.once.Do(func() { close(s.ch) }) }

// runInBackground runs fn on its own context from OnStart; OnStop cancels
// that context and waits for fn to return, or gives up when the stop
// deadline passes.
func runInBackground(lc fx.Lifecycle, name string, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				fn(ctx)
			}()
			return nil
		},
		OnStop: func(stopCtx context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-stopCtx.Done():
				return errors.New(name + " did not stop in time")
			}
		},
	})
}
