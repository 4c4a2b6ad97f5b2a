package store_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/adapters/store/storetest"
)

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPostgresEventsSignalAcrossHandles shows that events numbered through
// one handle wake the subscribers of another, through NOTIFY, also after
// the listener's connection was killed, and that Close stops the listener.
func TestPostgresEventsSignalAcrossHandles(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	app := "ordergate_listen_" + u.Query().Get("search_path")
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	a := storetest.MustOpen(t, u.String())
	b := storetest.MustOpen(t, dsn)

	sig, stop := a.EventsSignal()
	defer stop()
	waitFor(t, "listening", a.Listening)
	// A commit and its numbering through b reach a only by NOTIFY.
	notified := func(what string) {
		t.Helper()
		drain(sig)
		mustCreate(t, b, newOrder(t, t0, false))
		if n, err := b.SequenceEvents(ctx); err != nil || n != 1 {
			t.Fatalf("SequenceEvents = %d, %v; want 1", n, err)
		}
		waitSignal(t, sig, what)
	}
	notified("after b numbered an event")

	// Kill the listener's connection: it reconnects, signals once for
	// what it may have missed, and listens again.
	if _, err := b.Bun().ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ? AND query LIKE 'LISTEN%'", app); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "listener lost its connection", func() bool { return !a.Listening() })
	waitSignal(t, sig, "after the listener reconnected")
	waitFor(t, "listening again", a.Listening)
	notified("after the reconnect")

	if !a.ListenerRunning() {
		t.Fatal("listener not running")
	}
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s")
	}
	if a.ListenerRunning() {
		t.Error("listener still running after Close")
	}
	select {
	case _, ok := <-sig:
		if ok {
			for range sig {
			}
		}
	case <-time.After(5 * time.Second):
		t.Error("the signal channel is still open after Close")
	}
	if late, _ := a.EventsSignal(); late != nil {
		if _, ok := <-late; ok {
			t.Error("EventsSignal after Close gave an open channel")
		}
	}
}

// TestSQLiteEventsSignalNeedsNoListener checks SQLite signals in process
// and starts no listener.
func TestSQLiteEventsSignalNeedsNoListener(t *testing.T) {
	db := MustOpenSQLite(t)
	sig, stop := db.EventsSignal()
	defer stop()
	mustCreate(t, db, newOrder(t, t0, false))
	waitSignal(t, sig, "after Create")
	if db.Dialect() != store.SQLite || db.ListenerRunning() {
		t.Error("a SQLite store runs a listener")
	}
}
