package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentKeepsTheGoalAboveTheFloor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 6300},              // counted as 1 MB: goal 64 MB
		{2 << 20, 3100},        // goal 64 MB
		{16 << 20, 300},        // goal 64 MB
		{gcHeapFloor / 2, 100}, // twice the live heap is the floor
		{600 << 20, 100},       // a million cached keys: the default
	} {
		got := gcPercent(c.live)
		if got != c.want {
			t.Errorf("gcPercent(%d MB) = %d, want %d", c.live>>20, got, c.want)
		}
		if goal := c.live * uint64(100+got) / 100; c.live >= 1<<20 && goal < min(gcHeapFloor, 2*c.live)-(1<<20) {
			t.Errorf("live %d MB: goal %d MB is under the floor", c.live>>20, goal>>20)
		}
	}
}

// currentGCPercent reads GOGC (SetGCPercent returns the previous value).
func currentGCPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestGCTunerFollowsCollectionsAndStops(t *testing.T) {
	stop := tuneGC(func(string) string { return "" })
	deadline := time.Now().Add(10 * time.Second)
	for currentGCPercent() <= 100 {
		if time.Now().After(deadline) {
			stop()
			t.Fatal("GOGC never rose above 100 for this test binary's small heap")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	stop()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if p := currentGCPercent(); p != 100 {
		t.Errorf("after stop GOGC = %d, want 100", p)
	}
}

func TestGCTunerLeavesAnOperatorsChoice(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		stop := tuneGC(func(k string) string {
			if k == env {
				return "200"
			}
			return ""
		})
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if p := currentGCPercent(); p != 100 {
			t.Errorf("with %s set, GOGC = %d, want it left at 100", env, p)
		}
		stop()
	}
}
