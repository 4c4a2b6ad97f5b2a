package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordergate/ordergate/domain"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/ports"
)

func BenchmarkCreateSQLite(b *testing.B)   { benchCreate(b, MustOpenSQLite(b)) }
func BenchmarkCreatePostgres(b *testing.B) { benchCreate(b, MustOpenPostgres(b)) }
func BenchmarkClaimSQLite(b *testing.B)    { benchClaim(b, MustOpenSQLite(b)) }
func BenchmarkClaimPostgres(b *testing.B)  { benchClaim(b, MustOpenPostgres(b)) }

// Creates under background load: intakeCallers create at once while
// background workers claim jobs and settle them (see benchUnderLoad).
func BenchmarkCreateUnderLoadSQLite(b *testing.B) {
	benchUnderLoad(b, MustOpenSQLite, 4)
}

// On PostgreSQL more background workers than intake's pool has
// connections: without a pool of their own they take them from intake.
func BenchmarkCreateUnderLoadPostgres(b *testing.B) {
	benchUnderLoad(b, MustOpenPostgres, 24)
}

// intakeCallers is how many callers create at once in benchUnderLoad.
const intakeCallers = 16

// benchUnderLoad measures the latency of creates from intakeCallers
// parallel callers while workers background workers each claim 16 jobs and
// settle them all at once (Retry, due again at once), in a loop: the
// writes a dispatcher makes when the exchange fails every call. It runs
// with intake's priority and without, and reports each create's p50 and p99
// and the background transactions per second; and, for the floor, without
// background load.
func benchUnderLoad(b *testing.B, open func(testing.TB) *store.DB, workers int) {
	b.Run("background=none", func(b *testing.B) { runUnderLoad(b, open(b), 0) })
	for _, prio := range []bool{true, false} {
		// Opened and filled once per sub-benchmark, not once per b.N.
		db := open(b)
		db.SetWritePriority(prio)
		for range 64 * workers {
			mustCreate(b, db, newOrder(b, t0, false))
		}
		b.Run(fmt.Sprintf("priority=%t", prio), func(b *testing.B) { runUnderLoad(b, db, workers) })
	}
}

func runUnderLoad(b *testing.B, db *store.DB, workers int) {
	bctx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	var bgTx atomic.Int64
	var clock atomic.Int64 // seconds after t0+1h, shared by every claim
	for w := range workers {
		bg.Add(1)
		go func() {
			defer bg.Done()
			owner := fmt.Sprint("bench-", w)
			for bctx.Err() == nil {
				now := t0.Add(time.Hour + time.Duration(clock.Add(1))*time.Second)
				jobs, err := db.Claim(bctx, ports.Claim{Owner: owner, Now: now, Lease: time.Second, Limit: 16})
				if err != nil {
					if bctx.Err() == nil {
						b.Error(err)
					}
					return
				}
				bgTx.Add(1)
				var settles sync.WaitGroup
				for _, j := range jobs {
					settles.Add(1)
					go func() {
						defer settles.Done()
						// Another worker's later claim may hold it by now; a settle runs to
						// its end after the benchmark stops.
						err := db.Settle(context.WithoutCancel(bctx), j, ports.Outcome{Result: ports.Retry, At: now, Due: now, Cause: "exchange down"})
						if err != nil && !errors.Is(err, domain.ErrLeaseLost) {
							b.Error(err)
						}
						bgTx.Add(1)
					}()
				}
				settles.Wait()
			}
		}()
	}

	var next atomic.Int64
	lat := make([][]time.Duration, intakeCallers)
	var callers sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range intakeCallers {
		callers.Add(1)
		go func() {
			defer callers.Done()
			for next.Add(1) <= int64(b.N) {
				o := newOrder(b, time.Now(), true)
				t := time.Now()
				if err := db.Create(ctx, o); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		}()
	}
	callers.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	bg.Wait()

	all := slices.Sorted(slices.Values(slices.Concat(lat...)))
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "creates/s")
	b.ReportMetric(float64(bgTx.Load())/elapsed.Seconds(), "bg-tx/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCreateSequencedPostgres is BenchmarkCreatePostgres with a
// sequencer numbering the events as they commit, as every instance runs
// one: the whole cost of an event on PostgreSQL.
func BenchmarkCreateSequencedPostgres(b *testing.B) {
	db := MustOpenPostgres(b)
	sig, stop := db.EventsSignal()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range sig {
			if _, err := db.SequenceEvents(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	benchCreate(b, db)
	b.StopTimer()
	stop()
	<-done
}

// benchCreate measures one order with its job, committed, from parallel
// callers.
func benchCreate(b *testing.B, db *store.DB) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o := newOrder(b, time.Now(), true)
			if err := db.Create(ctx, o); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchClaim measures claiming and completing batches of 64 due jobs.
func benchClaim(b *testing.B, db *store.DB) {
	for range 64 * 50 {
		mustCreate(b, db, newOrder(b, t0, false))
	}
	now := t0.Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A lease of 1 ns makes every job due again at the next claim.
		jobs, err := db.Claim(ctx, ports.Claim{Owner: "bench", Now: now.Add(time.Duration(i) * time.Second), Lease: time.Nanosecond, Limit: 64})
		if err != nil || len(jobs) != 64 {
			b.Fatalf("claimed %d: %v", len(jobs), err)
		}
	}
}

// BenchmarkSequencePostgres measures the sequencer: each round commits
// 64 events (one order each, untimed) and numbers them in one
// SequenceEvents call. It reports events numbered a second.
func BenchmarkSequencePostgres(b *testing.B) {
	db := MustOpenPostgres(b)
	const batch = 64
	var numbering time.Duration
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for range batch {
			mustCreate(b, db, newOrder(b, t0, false))
		}
		b.StartTimer()
		start := time.Now()
		n, err := db.SequenceEvents(ctx)
		numbering += time.Since(start)
		if err != nil || n != batch {
			b.Fatalf("numbered %d: %v; want %d", n, err, batch)
		}
	}
	b.ReportMetric(float64(b.N*batch)/numbering.Seconds(), "events/s")
}

func BenchmarkApplyReportsSQLite(b *testing.B)   { benchApply(b, MustOpenSQLite(b)) }
func BenchmarkApplyReportsPostgres(b *testing.B) { benchApply(b, MustOpenPostgres(b)) }

// benchApply measures ApplyReports as the ingester calls it under a flood:
// batches of 512 fills, round-robin over 512 orders of 1,000 shares, so
// each order gets one fill per batch and, over the run, many fills (the
// later ones read and write an order with a long history). One op is one
// report.
func benchApply(b *testing.B, db *store.DB) {
	const orders, batch = 512, 512
	os := make([]domain.Order, orders)
	acks := make([]domain.Report, orders)
	for i := range os {
		o := newOrder(b, t0.Add(time.Duration(i)*time.Microsecond), false)
		o.Quantity = 1_000_000
		mustCreate(b, db, o)
		os[i] = o
		acks[i] = report(int64(i+1), o, domain.ReportAck, 0, 0, t0)
	}
	if _, err := db.ApplyReports(ctx, ports.Batch{Session: "s1", At: t0, Reports: acks}); err != nil {
		b.Fatal(err)
	}
	seq := int64(orders)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		rs := make([]domain.Report, batch)
		for i := range rs {
			rs[i] = report(seq+int64(i)+1, os[i%orders], domain.ReportPartialFill, 1, 10000+int64(i%7), t0.Add(time.Duration(seq+int64(i))*time.Millisecond))
		}
		if _, err := db.ApplyReports(ctx, ports.Batch{Session: "s1", After: seq, At: t0, Reports: rs}); err != nil {
			b.Fatal(err)
		}
		seq += batch
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
}
