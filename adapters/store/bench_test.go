package store_test

import (
	"testing"
	"time"

	"github.com/ordergate/ordergate/adapters/store"
	"github.com/ordergate/ordergate/ports"
)

func BenchmarkCreateSQLite(b *testing.B)   { benchCreate(b, MustOpenSQLite(b)) }
func BenchmarkCreatePostgres(b *testing.B) { benchCreate(b, MustOpenPostgres(b)) }
func BenchmarkClaimSQLite(b *testing.B)    { benchClaim(b, MustOpenSQLite(b)) }
func BenchmarkClaimPostgres(b *testing.B)  { benchClaim(b, MustOpenPostgres(b)) }

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
