package exchange_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ordergate/ordergate/adapters/exchange"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

// busyVenue returns a venue whose log holds n reports or a few more: acks
// and fills of market orders filled at once.
func busyVenue(t *testing.T, cfg exchange.VenueConfig, n int) *exchange.Venue {
	t.Helper()
	v := newVenue(t, cfg)
	for v.Stats().Reports < int64(n) {
		if err := v.Place(context.Background(), newOrder(t, domain.Market, domain.Buy, nil, 5)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// read returns the next n reports of sub.
func read(t *testing.T, sub ports.Subscription, n int) []domain.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := make([]domain.Report, 0, n)
	for range n {
		r, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d reports: %v", len(out), err)
		}
		out = append(out, r)
	}
	return out
}

func subscribe(t *testing.T, v ports.Feed, session string, from int64) ports.Subscription {
	t.Helper()
	sub, err := v.Subscribe(context.Background(), session, from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func seqs(rs []domain.Report) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func TestFeedReplaysFromAnyKeptReport(t *testing.T) {
	v := busyVenue(t, exchange.VenueConfig{}, 40)
	log := allReports(t, v)
	for from := int64(1); from <= int64(len(log)); from++ {
		sub := subscribe(t, v, v.Session(), from)
		if sub.Session() != v.Session() {
			t.Fatalf("session %q; want %q", sub.Session(), v.Session())
		}
		if diff := cmp.Diff(log[from-1:], read(t, sub, len(log)-int(from)+1)); diff != "" {
			t.Fatalf("replay from %d (-log +feed):\n%s", from, diff)
		}
	}
}

func TestFeedStartsANewSessionAtItsFirstReport(t *testing.T) {
	v := busyVenue(t, exchange.VenueConfig{}, 10)
	for _, session := range []string{"", "another venue session"} {
		sub := subscribe(t, v, session, 7)
		if got := read(t, sub, 1)[0].Seq; got != 1 {
			t.Errorf("session %q from 7: first seq %d; want 1", session, got)
		}
	}
	// Numbers below 1 mean 1.
	if got := read(t, subscribe(t, v, v.Session(), 0), 1)[0].Seq; got != 1 {
		t.Errorf("from 0: first seq %d; want 1", got)
	}
}

func TestFeedWaitsForNewReports(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{})
	sub := subscribe(t, v, "", 1)
	got := make(chan []domain.Report, 1)
	go func() {
		var rs []domain.Report
		for range 2 {
			r, err := sub.Next(context.Background())
			if err != nil {
				t.Error(err)
				break
			}
			rs = append(rs, r)
		}
		got <- rs
	}()
	o := order(t)
	if err := v.Place(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	select {
	case rs := <-got:
		if diff := cmp.Diff(allReports(t, v), rs); diff != "" {
			t.Errorf("live reports (-log +feed):\n%s", diff)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no report came")
	}
}

func TestFeedNextRespectsItsContextAndClose(t *testing.T) {
	v := newVenue(t, exchange.VenueConfig{})
	sub := subscribe(t, v, "", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := sub.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on a quiet feed = %v; want the deadline", err)
	}
	// The deadline took nothing away: the next report still comes.
	if err := v.Place(context.Background(), order(t)); err != nil {
		t.Fatal(err)
	}
	if r := read(t, sub, 1)[0]; r.Seq != 1 {
		t.Errorf("first report after the deadline has seq %d; want 1", r.Seq)
	}
	_ = read(t, sub, 1)

	done := make(chan error, 1)
	go func() { _, err := sub.Next(context.Background()); done <- err }()
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Next returned a report after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake Next")
	}
	if n := v.Stats().Subscriptions; n != 0 {
		t.Errorf("%d subscriptions open after Close; want 0", n)
	}
}

func TestFeedTruncation(t *testing.T) {
	v := busyVenue(t, exchange.VenueConfig{Keep: 5}, 12)
	next := v.Stats().Reports + 1
	first := next - 5
	if _, err := v.Reports(first-1, 10); !errors.Is(err, domain.ErrFeedTruncated) {
		t.Errorf("Reports before the kept window = %v; want ErrFeedTruncated", err)
	}
	rs, err := v.Reports(first, 10)
	if err != nil || len(rs) != 5 || rs[0].Seq != first {
		t.Errorf("Reports(%d) = %v, %v; want the 5 kept", first, seqs(rs), err)
	}
	for _, tt := range []struct {
		session string
		from    int64
	}{{v.Session(), first - 1}, {v.Session(), 1}, {"", 0}, {"old session", first}} {
		if _, err := v.Subscribe(context.Background(), tt.session, tt.from); !errors.Is(err, domain.ErrFeedTruncated) {
			t.Errorf("Subscribe(%q, %d) = %v; want ErrFeedTruncated", tt.session, tt.from, err)
		}
	}
	sub := subscribe(t, v, v.Session(), first)
	if got := seqs(read(t, sub, 5)); !slices.Equal(got, []int64{first, first + 1, first + 2, first + 3, first + 4}) {
		t.Errorf("kept reports %v", got)
	}

	// A subscriber that falls behind the window learns so from Next.
	behind := subscribe(t, v, v.Session(), next-1)
	_ = read(t, behind, 1)
	for v.Stats().Reports < next+10 {
		if err := v.Place(context.Background(), order(t)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := behind.Next(context.Background()); !errors.Is(err, domain.ErrFeedTruncated) {
		t.Errorf("Next behind the window = %v; want ErrFeedTruncated", err)
	}
}

func TestFeedKeepsAtMostKeep(t *testing.T) {
	v := busyVenue(t, exchange.VenueConfig{Keep: 3000}, 10_000)
	first := v.Stats().Reports - 2999
	if _, err := v.Reports(first-1, 1); !errors.Is(err, domain.ErrFeedTruncated) {
		t.Errorf("report %d = %v; want ErrFeedTruncated", first-1, err)
	}
	rs, err := v.Reports(first, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3000 {
		t.Fatalf("%d reports kept; want 3000", len(rs))
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Seq != rs[i-1].Seq+1 {
			t.Fatalf("kept reports skip from %d to %d", rs[i-1].Seq, rs[i].Seq)
		}
	}
	if last := rs[len(rs)-1].Seq; last != v.Stats().Reports {
		t.Errorf("last kept seq %d; want %d", last, v.Stats().Reports)
	}
}

func TestFeedFaults(t *testing.T) {
	const n = 200
	t.Run("duplicate", func(t *testing.T) {
		v := busyVenue(t, exchange.VenueConfig{Faults: exchange.FeedFaults{Duplicate: 0.3}}, n)
		log := allReports(t, v)
		var got []domain.Report
		sub := subscribe(t, v, "", 1)
		for len(got) == 0 || got[len(got)-1].Seq < int64(len(log)) {
			got = append(got, read(t, sub, 1)...)
		}
		twice := 0
		want := int64(1)
		for i, r := range got {
			if i > 0 && r.Seq == got[i-1].Seq {
				twice++
				continue
			}
			if r.Seq != want || r != log[r.Seq-1] {
				t.Fatalf("delivery %d: %+v; want report %d as logged", i, r, want)
			}
			want++
		}
		if twice == 0 || twice == len(log) {
			t.Errorf("%d of %d reports delivered twice; want some", twice, len(log))
		}
		checkClean(t, v, log)
	})

	t.Run("drop", func(t *testing.T) {
		v := busyVenue(t, exchange.VenueConfig{Faults: exchange.FeedFaults{Drop: 0.3}}, n)
		log := allReports(t, v)
		sub := subscribe(t, v, "", 1)
		var got []domain.Report
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		for {
			r, err := sub.Next(ctx)
			if err != nil {
				break // the quiet feed after the last delivered report
			}
			got = append(got, r)
		}
		gaps := 0
		for i, r := range got {
			if r != log[r.Seq-1] {
				t.Fatalf("delivery %d: %+v; want it as logged", i, r)
			}
			if i > 0 && r.Seq <= got[i-1].Seq {
				t.Fatalf("delivery %d: seq %d after %d", i, r.Seq, got[i-1].Seq)
			}
			if i > 0 && r.Seq > got[i-1].Seq+1 {
				gaps++
			}
		}
		if gaps == 0 || len(got) == 0 {
			t.Errorf("%d deliveries with %d gaps; want some gaps", len(got), gaps)
		}
		checkClean(t, v, log)
	})

	t.Run("reorder", func(t *testing.T) {
		const window = 4
		v := busyVenue(t, exchange.VenueConfig{Faults: exchange.FeedFaults{Reorder: window}}, n)
		log := allReports(t, v)
		n := len(log) / window * window
		got := read(t, subscribe(t, v, "", 1), n)
		shuffled := 0
		for start := 0; start < n; start += window {
			chunk := slices.Clone(got[start : start+window])
			if !slices.IsSortedFunc(chunk, func(a, b domain.Report) int { return int(a.Seq - b.Seq) }) {
				shuffled++
			}
			slices.SortFunc(chunk, func(a, b domain.Report) int { return int(a.Seq - b.Seq) })
			if diff := cmp.Diff(log[start:start+window], chunk); diff != "" {
				t.Fatalf("window from %d is not a shuffle of the log's (-log +feed):\n%s", start+1, diff)
			}
		}
		if shuffled == 0 {
			t.Errorf("no window of %d reordered", window)
		}
		checkClean(t, v, log)
	})

	t.Run("disconnect", func(t *testing.T) {
		v := busyVenue(t, exchange.VenueConfig{Faults: exchange.FeedFaults{DisconnectEvery: 7}}, n)
		log := allReports(t, v)
		sub := subscribe(t, v, v.Session(), 3)
		if diff := cmp.Diff(log[2:9], read(t, sub, 7)); diff != "" {
			t.Errorf("before the disconnect (-log +feed):\n%s", diff)
		}
		for range 2 {
			if _, err := sub.Next(context.Background()); err == nil || errors.Is(err, domain.ErrFeedTruncated) {
				t.Errorf("Next after 7 deliveries = %v; want the disconnect", err)
			}
		}
		again := subscribe(t, v, v.Session(), 10)
		if diff := cmp.Diff(log[9:16], read(t, again, 7)); diff != "" {
			t.Errorf("after subscribing again (-log +feed):\n%s", diff)
		}
		checkClean(t, v, log)
	})
}

// checkClean checks the venue's log is still what it was: faults touch
// deliveries only.
func checkClean(t *testing.T, v *exchange.Venue, log []domain.Report) {
	t.Helper()
	if diff := cmp.Diff(log, allReports(t, v)[:len(log)]); diff != "" {
		t.Errorf("the log changed (-before +after):\n%s", diff)
	}
	for i, r := range log {
		if r.Seq != int64(i+1) {
			t.Fatalf("log entry %d has seq %d", i+1, r.Seq)
		}
	}
}

// TestFeedReplayConvergesUnderEveryFault is an ingester's loop in small:
// apply reports in sequence order, skip what is applied, and on a gap or a
// disconnect subscribe again from the first report missing. Because faults
// are drawn afresh on every delivery, it gets everything, each once.
func TestFeedReplayConvergesUnderEveryFault(t *testing.T) {
	v := busyVenue(t, exchange.VenueConfig{Faults: exchange.FeedFaults{Duplicate: 0.2, Drop: 0.2, Reorder: 5, DisconnectEvery: 40}}, 500)
	log := allReports(t, v)
	var applied []domain.Report
	subscriptions := 0
	for len(applied) < len(log) && subscriptions < 10_000 {
		subscriptions++
		sub, err := v.Subscribe(context.Background(), v.Session(), int64(len(applied)+1))
		if err != nil {
			t.Fatal(err)
		}
		pending := map[int64]domain.Report{}
		for len(applied) < len(log) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			r, err := sub.Next(ctx)
			cancel()
			if err != nil {
				break // a disconnect, or a report that was dropped at the end
			}
			pending[r.Seq] = r
			for {
				next, ok := pending[int64(len(applied)+1)]
				if !ok {
					break
				}
				applied = append(applied, next)
				delete(pending, next.Seq)
			}
			// A report more than a window ahead means one was dropped.
			if r.Seq > int64(len(applied))+5 {
				break
			}
		}
		_ = sub.Close()
	}
	if diff := cmp.Diff(log, applied); diff != "" {
		t.Errorf("applied (-log +applied):\n%s", diff)
	}
	t.Logf("%d reports applied over %d subscriptions", len(applied), subscriptions)
}
