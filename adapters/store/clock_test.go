package store_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/app"
	"github.com/ordergate/ordergate/domain"
)

// skewed is a host clock off by a fixed amount.
type skewed time.Duration

func (s skewed) Now() time.Time { return time.Now().Add(time.Duration(s)) }

func TestSQLiteClock(t *testing.T)   { testClock(t, MustOpenSQLite) }
func TestPostgresClock(t *testing.T) { testClock(t, MustOpenPostgres) }

// testClock checks that instances whose own clocks disagree by hours read
// one time from the database, and that a dispatcher on such an instance
// never takes over a lease another one holds.
func testClock(t *testing.T, open func(testing.TB) *store.DB) {
	db := open(t)
	ahead, err := db.Clock(ctx, skewed(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	behind, err := db.Clock(ctx, skewed(-3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := ahead.Now().Sub(behind.Now()).Abs(); d > 100*time.Millisecond {
		t.Errorf("two instances 4 h apart read the database's clock %s apart; want under 100 ms", d)
	}
	// The test server runs on this host, so its clock is this host's.
	if d := time.Until(ahead.Now()).Abs(); d > time.Second {
		t.Errorf("database clock %s off this host's; want under 1 s", d)
	}

	o, err := domain.New(domain.NewID(time.Now()), time.Now(), domain.Spec{Type: domain.Market, Side: domain.Buy, Instrument: "US0378331005", Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	o.Account = testAccount
	mustCreate(t, db, o)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := app.DispatcherConfig{Concurrency: 4, Lease: 30 * time.Second, CallTimeout: 10 * time.Second, Logger: quiet}

	// The first instance's exchange call hangs while the others look.
	called, release := make(chan struct{}), make(chan struct{})
	holder, err := app.NewDispatcher(db, exchangeFunc(func(context.Context, domain.Order) error {
		close(called)
		<-release
		return nil
	}), behind, cfg)
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan int, 1)
	go func() { n, _ := holder.DispatchOnce(ctx); held <- n }()
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("the first dispatcher did not claim the job")
	}

	ok := exchangeFunc(func(context.Context, domain.Order) error { return nil })
	onDBTime, err := app.NewDispatcher(db, ok, ahead, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := onDBTime.DispatchOnce(ctx); n != 0 || err != nil {
		t.Errorf("an instance an hour ahead, on the database's clock, claimed %d jobs (%v); want 0 while the lease runs", n, err)
	}
	// The hazard the database's clock removes: on its own clock the same
	// instance takes the live lease over.
	onOwnTime, err := app.NewDispatcher(db, ok, skewed(time.Hour), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := onOwnTime.DispatchOnce(ctx); n != 1 || err != nil {
		t.Errorf("an instance an hour ahead on its own clock claimed %d jobs (%v); want 1: the test no longer shows the hazard", n, err)
	}
	close(release)
	if n := <-held; n != 1 {
		t.Errorf("the first dispatcher handled %d jobs; want 1", n)
	}
}

// exchangeFunc is an exchange made of one function.
type exchangeFunc func(context.Context, domain.Order) error

func (f exchangeFunc) Place(ctx context.Context, o domain.Order) error { return f(ctx, o) }

func (f exchangeFunc) Cancel(context.Context, domain.ID) error { return nil }
