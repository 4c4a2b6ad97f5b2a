package app

import (
	"math/rand/v2"
	"testing"
)

// TestAIMDKeepsTheLimitOnAHealthyStartUpBurst drives the limiter as a
// healthy exchange would at start-up, at its worst: of 256 calls in
// flight the 10 % that fail come back first, each freed slot is refilled
// at once (and fails again 10 % of the time), and only then do the
// successes come back. Twenty bursts in a row, over many seeds: the limit
// never leaves Concurrency.
func TestAIMDKeepsTheLimitOnAHealthyStartUpBurst(t *testing.T) {
	const ceiling, bursts, seeds = 256, 20, 50
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 7))
		a := newAIMD(ceiling)
		for burst := range bursts {
			var pending []uint64 // successes in flight
			slots := a.Limit()
			for range slots {
				for {
					seq := a.Start()
					if rng.IntN(10) != 0 {
						pending = append(pending, seq)
						break
					}
					a.Done(seq, true, false) // back at once; the slot is refilled
					if got := a.Limit(); got != ceiling {
						t.Fatalf("seed %d burst %d: limit %d after an instant failure; want %d", seed, burst, got, ceiling)
					}
				}
			}
			for _, seq := range pending {
				a.Done(seq, false, true)
			}
			if got := a.Limit(); got != ceiling {
				t.Fatalf("seed %d burst %d: limit %d; want %d", seed, burst, got, ceiling)
			}
		}
		if len(a.groups) > 1 {
			t.Errorf("seed %d: %d groups still counted; want at most the one being filled", seed, len(a.groups))
		}
	}
}

// TestAIMDHalvesOnceABurstAndGrowsBack: on an exchange failing every call
// the limit halves once per round of calls (not once per group of a
// round), down to the floor, and then grows by one per answered call.
func TestAIMDHalvesOnceABurstAndGrowsBack(t *testing.T) {
	a := newAIMD(256)
	var limits []int
	for range 16 {
		n := a.Limit()
		seqs := make([]uint64, n)
		for i := range seqs {
			seqs[i] = a.Start()
		}
		for _, s := range seqs {
			a.Done(s, true, false)
		}
		limits = append(limits, a.Limit())
	}
	// Below the group size a round is less than a group, so a halving
	// takes a few rounds there.
	if limits[0] != 128 {
		t.Errorf("limit after the first round = %d; want 128 (halved once, not once per group)", limits[0])
	}
	for i := 1; i < len(limits); i++ {
		if l, prev := limits[i], limits[i-1]; l != prev && l != max(4, prev/2) {
			t.Errorf("limits %v: %d after %d; want it kept or halved", limits, l, prev)
		}
	}
	for _, l := range limits {
		if l < 4 {
			t.Errorf("limits %v go below the floor of 4", limits)
		}
	}
	if len(limits) < 16 || limits[15] != 4 {
		t.Fatalf("limits %v; want the floor of 4 within 16 rounds", limits)
	}
	calls := 0
	for a.Limit() < 256 {
		a.Done(a.Start(), false, true)
		calls++
	}
	if calls != 252 {
		t.Errorf("back to 256 after %d answered calls; want 252 (one each)", calls)
	}
}

// BenchmarkAIMDHealthy measures the limiter's cost per call on a healthy
// exchange (10 % failures).
func BenchmarkAIMDHealthy(b *testing.B) {
	a := newAIMD(256)
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		fail := rng.IntN(10) == 0
		a.Done(a.Start(), fail, !fail)
	}
	if a.Limit() != 256 {
		b.Fatalf("limit %d; want 256", a.Limit())
	}
}
