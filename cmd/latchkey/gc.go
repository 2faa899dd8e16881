package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// gcHeapFloor is the least heap the garbage collector lets grow between
// collections while Latchkey serves.
//
// The default (GOGC=100) collects when the heap has doubled since the last
// collection, and at least every 4 MB. Latchkey's live heap is small (a
// few MB with thousands of cached keys) while each request allocates a
// few KB, most of it net/http's own; under load the collector ran some 60
// times a second and took a tenth of the CPU (bench/load.sh, with
// GODEBUG=gctrace=1). A larger GOGC would also multiply a large heap (a
// million cached keys hold ~600 MB), so the goal is kept at
// max(gcHeapFloor, twice the live heap) instead: a small heap grows to the
// floor between collections, a large one is collected as by default.
const gcHeapFloor = 64 << 20

// gcPercent is the GOGC that puts the heap goal of a live heap at
// max(gcHeapFloor, 2 × live).
func gcPercent(live uint64) int {
	if live >= gcHeapFloor/2 {
		return 100
	}
	live = max(live, 1<<20) // the runtime's own floor is 4 MB: no heap is smaller
	return int(100 * (gcHeapFloor - live) / live)
}

// gcTuner sets GOGC after every collection from the live heap it left.
type gcTuner struct {
	mu      sync.Mutex // a tuning in flight finishes before stop restores GOGC
	stopped bool
	live    []metrics.Sample
}

// tuneGC starts the tuner unless the operator chose the collector's
// settings (GOGC or GOMEMLIMIT); stop ends it and restores GOGC=100.
func tuneGC(getenv func(string) string) (stop func()) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	t := &gcTuner{live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.tune()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		debug.SetGCPercent(100)
	}
}

// gcSentinel is allocated for the collector to free: its cleanup runs once
// per collection. It holds a pointer so that it is not a tiny allocation,
// which could share a block with live data and never be freed.
type gcSentinel struct{ _ *byte }

func (t *gcTuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.live)
	if v := t.live[0].Value; v.Kind() == metrics.KindUint64 {
		debug.SetGCPercent(gcPercent(v.Uint64()))
	}
	runtime.AddCleanup(&gcSentinel{}, func(t *gcTuner) { t.tune() }, t)
}
