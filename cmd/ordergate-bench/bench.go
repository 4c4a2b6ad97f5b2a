package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" for schema set-up

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/domain"
	"github.com/ordergate/ordergate/ports"
)

func numCPU() int       { return runtime.NumCPU() }
func goVersion() string { return runtime.Version() }

// freshDB returns a new empty database of the kind db names, migrated.
func freshDB(o opts, dir, db, tag string) (string, func(), error) {
	if db == store.SQLite {
		// A file of its own each time, also for a tag used twice; removed
		// after, so that a long run does not fill the disk.
		f, err := os.CreateTemp(dir, tag+"-*.db")
		if err != nil {
			return "", nil, err
		}
		dsn := f.Name()
		f.Close()
		_ = os.Remove(dsn) // the store creates it
		cleanup := func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(dsn + suffix)
			}
		}
		return dsn, cleanup, migrate(dsn, o.key)
	}
	admin, err := sql.Open("pgx", o.postgres)
	if err != nil {
		return "", nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema := "ordergate_bench_" + tag + "_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		return "", nil, err
	}
	u, err := url.Parse(o.postgres)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	cleanup := func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	}
	return u.String(), cleanup, migrate(u.String(), o.key)
}

// migrate brings a fresh database's schema up and stores the run's API key
// in it, so every server of the run accepts the one key its clients send.
func migrate(dsn string, key domain.APIKey) error {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	return db.CreateKey(ctx, key)
}

func newOrder(at time.Time) domain.Order {
	p := domain.PriceFromCents(12345)
	o, _ := domain.New(domain.NewID(at), at, domain.Spec{Type: domain.Limit, Side: domain.Buy, Instrument: "US0378331005", LimitPrice: &p, Quantity: 10})
	o.Account = domain.DefaultAccount
	return o
}

// row is one line of the printed table.
type row struct{ figure, value, ratio, target string }

func benchDB(o opts, db string, fresh func(tag string) (string, func(), error)) error {
	var rows []row
	add := func(figure, value, ratio, target string) {
		rows = append(rows, row{figure, value, ratio, target})
		fmt.Printf("  measured %s: %s %s\n", figure, value, ratio)
	}
	fmt.Printf("## %s\n", db)
	client := newClient(4*o.workers, o.apiKey)
	var healthy result
	if o.want("1") {
		if err := benchPOST(o, db, fresh, client, add, &healthy); err != nil {
			return err
		}
	}
	if o.want("5") {
		if err := benchDispatch(o, fresh, client, add); err != nil {
			return err
		}
	}
	if o.want("6") {
		if err := benchScale(o, fresh, client, add); err != nil {
			return err
		}
	}
	if o.want("8") {
		if err := benchIngest(o, fresh, client, add); err != nil {
			return err
		}
	}
	if o.want("9") {
		if err := benchAuth(o, fresh, client, add); err != nil {
			return err
		}
	}
	if o.want("10") {
		if err := benchEvents(o, fresh, add); err != nil {
			return err
		}
	}
	fmt.Printf("\n| %s | figure | ratio | target |\n|---|---|---|---|\n", db)
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s |\n", r.figure, r.value, r.ratio, r.target)
	}
	fmt.Println()
	return nil
}

type adder func(figure, value, ratio, target string)

func latencies(r result) string {
	return fmt.Sprintf("%.0f/s; p50 %s, p99 %s, p99.9 %s; %d errors", r.rate(), r.pct(50), r.pct(99), r.pct(99.9), r.errors)
}

// benchPOST measures sections 1 to 4 and 7.
func benchPOST(o opts, db string, fresh func(string) (string, func(), error), client *http.Client, add adder, healthyOut *result) error {
	ctx := context.Background()
	post := func(s *server) func() error { return func() error { return postOrder(client, s.url) } }
	// 1a. HTTP ceiling: same Huma stack and validation, storage off.
	ceil, err := startServer(o, o.self, "serve-ceiling")
	if err != nil {
		return err
	}
	httpCeil := closedLoop(o.workers, o.d, post(ceil))
	ceil.stop()
	add("1a HTTP ceiling (storage off)", latencies(httpCeil), "", "")

	// 1b. Storage ceiling: Create called directly, same concurrency.
	dsn, cleanup, err := fresh("storage")
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	storeCeil := closedLoop(o.workers, o.d, func() error { return st.Create(ctx, newOrder(time.Now())) })
	st.Close()
	cleanup()
	add("1b storage ceiling (Create, no HTTP)", latencies(storeCeil), "", "")
	ceiling := min(httpCeil.rate(), storeCeil.rate())
	if !o.want("2") {
		return nil
	}

	// 2, 3, 7. The real server, all roles, default simulator.
	dsn, cleanup, err = fresh("post")
	if err != nil {
		return err
	}
	srv, err := startServer(o, o.bin, "--db", dsn)
	if err != nil {
		return err
	}
	healthy := closedLoop(o.workers, o.d, post(srv))
	*healthyOut = healthy
	rss := srv.peakRSS()
	add("2 POST /orders, real server", latencies(healthy), fmt.Sprintf("%.2f of min(1a, 1b)", healthy.rate()/ceiling), ">= 0.50")
	half := openLoop(healthy.rate()/2, o.d, 4*o.workers, post(srv))
	srv.stop()
	cleanup()
	add(fmt.Sprintf("3 latency at half load (%.0f/s)", healthy.rate()/2), fmt.Sprintf("p50 %s, p99 %s; %d errors", half.pct(50), half.pct(99), half.errors), "", "p99 <= 10ms")
	add("7 peak RSS of the server during 2", fmt.Sprintf("%.1f MB", float64(rss)/(1<<20)), "", "<= 100 MB")

	// 4. Exchange independence.
	// 4a is the first seconds of an outage, when clients retry and load
	// peaks: a fresh server whose exchange fails every call from the
	// start, loaded for 6 s.
	for _, c := range []struct {
		name, target string
		d            time.Duration
		args         []string
	}{
		{"4a POST, exchange failing every call, its first 6 s", ">= 0.90, p99 <= 1.5x", min(o.d, 6*time.Second), []string{"--sim-failure-rate", "1"}},
		{"4b POST, exchange taking 10 s a call", ">= 0.90", o.d, []string{"--sim-latency", "10s", "--shutdown-grace", "1s"}},
	} {
		dsn, cleanup, err := fresh("indep")
		if err != nil {
			return err
		}
		s, err := startServer(o, o.bin, append([]string{"--db", dsn}, c.args...)...)
		if err != nil {
			return err
		}
		r := closedLoop(o.workers, c.d, post(s))
		s.stop()
		cleanup()
		p99 := func(r result) float64 { return float64(r.hist.ValueAtQuantile(99)) }
		add(c.name, latencies(r), fmt.Sprintf("throughput %.2f, p99 %.2f of 2", r.rate()/healthy.rate(), p99(r)/p99(healthy)), c.target)
	}
	return nil
}

// benchDispatch measures section 5.
func benchDispatch(o opts, fresh func(string) (string, func(), error), client *http.Client, add adder) error {
	post := func(s *server) func() error { return func() error { return postOrder(client, s.url) } }

	// 5a. Dispatch throughput: N pending orders, then a dispatcher alone.
	dsn, cleanup, err := fresh("dispatch")
	if err != nil {
		return err
	}
	api, err := startServer(o, o.bin, "--db", dsn, "--role", "api")
	if err != nil {
		return err
	}
	if err := fill(o.workers, o.dispatchN, func() error { return postOrder(client, api.url) }); err != nil {
		return err
	}
	api.stop()
	disp, err := startServer(o, o.bin, "--db", dsn, "--role", "dispatcher")
	if err != nil {
		return err
	}
	began := time.Now()
	ideal := float64(o.concurrency) / 0.5
	if err := waitDrained(dsn, time.Duration(float64(o.dispatchN)/ideal*3*float64(time.Second))+time.Minute); err != nil {
		return err
	}
	took := time.Since(began)
	disp.stop()
	cleanup()
	add(fmt.Sprintf("5a dispatch, %d pending orders", o.dispatchN), fmt.Sprintf("%.0f placements/s in %s", float64(o.dispatchN)/took.Seconds(), took.Round(time.Millisecond)),
		fmt.Sprintf("%.2f of ideal %.0f/s (concurrency %d / 0.5 s)", float64(o.dispatchN)/took.Seconds()/ideal, ideal, o.concurrency), ">= 0.90")

	// 5b. Commit to placed, offered load at half the exchange-bound ideal.
	dsn, cleanup, err = fresh("latency")
	if err != nil {
		return err
	}
	all, err := startServer(o, o.bin, "--db", dsn)
	if err != nil {
		return err
	}
	openLoop(ideal/2, o.d, 4*o.workers, post(all))
	if err := waitDrained(dsn, time.Minute); err != nil {
		return err
	}
	all.stop()
	c2p, err := commitToPlaced(dsn)
	cleanup()
	if err != nil {
		return err
	}
	add(fmt.Sprintf("5b commit to placed at %.0f orders/s", ideal/2), fmt.Sprintf("p50 %s, p99 %s", c2p.pct(50), c2p.pct(99)), "", "p50 <= 0.6s")
	return nil
}

// benchScale measures section 6.
func benchScale(o opts, fresh func(string) (string, func(), error), client *http.Client, add adder) error {
	post := func(s *server) func() error { return func() error { return postOrder(client, s.url) } }

	// 6. Scale: the same API-only run and claims, empty and with N stored.
	var scale [2]struct {
		post  result
		claim result
	}
	for i, n := range []int{0, o.scaleN} {
		dsn, cleanup, err := fresh(fmt.Sprintf("scale%d", i))
		if err != nil {
			return err
		}
		if err := bulkInsert(dsn, n); err != nil {
			return err
		}
		s, err := startServer(o, o.bin, "--db", dsn, "--role", "api")
		if err != nil {
			return err
		}
		scale[i].post = closedLoop(o.workers, o.d, post(s))
		s.stop()
		if scale[i].claim, err = claimTime(dsn); err != nil {
			return err
		}
		cleanup()
	}
	add(fmt.Sprintf("6a POST with %d orders stored (API only)", o.scaleN), latencies(scale[1].post), fmt.Sprintf("%.2f of empty (%.0f/s)", scale[1].post.rate()/scale[0].post.rate(), scale[0].post.rate()), ">= 0.90")
	add(fmt.Sprintf("6b claim of 64 jobs with %d orders stored", o.scaleN), fmt.Sprintf("p50 %s, p99 %s", scale[1].claim.pct(50), scale[1].claim.pct(99)),
		fmt.Sprintf("%.2f of empty (p50 %s)", float64(scale[0].claim.hist.ValueAtQuantile(50))/float64(max(1, scale[1].claim.hist.ValueAtQuantile(50))), scale[0].claim.pct(50)), ">= 0.90")
	return nil
}

// fill runs op n times successfully over workers, giving up after 100
// failures.
func fill(workers, n int, op func() error) error {
	var next, failures atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				for op() != nil {
					if failures.Add(1) > 100 {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if f := failures.Load(); f > 100 {
		return fmt.Errorf("fill: %d failures", f)
	}
	return nil
}

// waitDrained polls until no placement job is left.
func waitDrained(dsn string, limit time.Duration) error {
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(limit)
	for {
		var n int
		if err := db.Bun().NewRaw("SELECT count(*) FROM jobs WHERE kind = 'place'").Scan(context.Background(), &n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d orders still pending after %s", n, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func commitToPlaced(dsn string) (result, error) {
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		return result{}, err
	}
	defer db.Close()
	var rows []struct {
		CreatedAt time.Time `bun:"created_at"`
		PlacedAt  time.Time `bun:"placed_at"`
	}
	if err := db.Bun().NewRaw("SELECT created_at, placed_at FROM orders WHERE placed_at IS NOT NULL").Scan(context.Background(), &rows); err != nil {
		return result{}, err
	}
	h := newHist()
	for _, r := range rows {
		_ = h.RecordValue(r.PlacedAt.Sub(r.CreatedAt).Microseconds())
	}
	return result{ops: int64(len(rows)), hist: h}, nil
}

// claimTime claims 64 due jobs 200 times (each claim's 1 ns lease makes the
// jobs due again for the next).
func claimTime(dsn string) (result, error) {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return result{}, err
	}
	defer db.Close()
	h := newHist()
	now := time.Now().Add(time.Hour)
	for i := range 200 {
		began := time.Now()
		jobs, err := db.Claim(ctx, ports.Claim{Owner: "bench", Now: now.Add(time.Duration(i) * time.Second), Lease: time.Nanosecond, Limit: 64})
		if err != nil {
			return result{}, err
		}
		if len(jobs) == 0 {
			return result{}, fmt.Errorf("no jobs to claim")
		}
		_ = h.RecordValue(time.Since(began).Microseconds())
	}
	return result{ops: 200, hist: h}, nil
}

// bulkInsert stores n placed orders from the past year, as a busy
// deployment would have, without jobs (they are settled).
func bulkInsert(dsn string, n int) error {
	if n == 0 {
		return nil
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now().Add(-365 * 24 * time.Hour)
	step := 365 * 24 * time.Hour / time.Duration(n)
	const per = 1000
	var sb strings.Builder
	for i := 0; i < n; i += per {
		sb.Reset()
		sb.WriteString("INSERT INTO orders (id, account, created_at, updated_at, type, side, instrument, limit_price_cents, quantity, status, placement_attempts, placed_at) VALUES ")
		for j := i; j < min(i+per, n); j++ {
			at := start.Add(time.Duration(j) * step).UTC()
			if j > i {
				sb.WriteByte(',')
			}
			ts := at.Format("2006-01-02 15:04:05.999999-07:00")
			placed := at.Add(time.Second).Format("2006-01-02 15:04:05.999999-07:00")
			fmt.Fprintf(&sb, "('%s','default','%s','%s','limit','buy','US0378331005',12345,10,'placed',1,'%s')", domain.NewID(at), ts, placed, placed)
		}
		if _, err := db.Bun().ExecContext(ctx, sb.String()); err != nil {
			return fmt.Errorf("bulk insert: %w", err)
		}
	}
	return nil
}
