package storetest

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

func testUsage(t *testing.T, open func(t *testing.T) latchkey.Store) {
	usage := func(t *testing.T, f fixture, id string) (int64, *time.Time) {
		t.Helper()
		k, err := f.s.Key(t.Context(), id)
		must(t, err)
		return k.RequestCount, k.LastUsedAt
	}
	wantUsage := func(t *testing.T, f fixture, id string, count int64, last time.Time) {
		t.Helper()
		gotCount, gotLast := usage(t, f, id)
		if gotCount != count {
			t.Errorf("%s RequestCount = %d, want %d", id, gotCount, count)
		}
		if gotLast == nil || !gotLast.Equal(last) {
			t.Errorf("%s LastUsedAt = %v, want %v", id, gotLast, last)
		}
	}
	runAll(t, open, []behaviour{
		{"adds counts and moves last used forward only", func(t *testing.T, f fixture) {
			f.user("u1")
			f.key("k1", "u1")
			f.key("k2", "u1")
			must(t, f.s.AddUsage(t.Context(), []latchkey.Usage{
				{KeyID: "k1", Count: 3, LastUsedAt: base.Add(2 * time.Minute)},
				{KeyID: "k1", Count: 2, LastUsedAt: base.Add(time.Minute)},
				{KeyID: "k2", Count: 1, LastUsedAt: base.Add(5 * time.Minute)},
			}))
			wantUsage(t, f, "k1", 5, at(2*time.Minute))
			wantUsage(t, f, "k2", 1, at(5*time.Minute))
			must(t, f.s.AddUsage(t.Context(), []latchkey.Usage{
				{KeyID: "k1", Count: 1, LastUsedAt: base.Add(time.Second)},
			}))
			wantUsage(t, f, "k1", 6, at(2*time.Minute))
			must(t, f.s.AddUsage(t.Context(), []latchkey.Usage{
				{KeyID: "k1", Count: 4, LastUsedAt: base.Add(time.Hour)},
			}))
			wantUsage(t, f, "k1", 10, at(time.Hour))
		}},
		{"unknown key ids are ignored", func(t *testing.T, f fixture) {
			f.user("u1")
			f.key("k1", "u1")
			must(t, f.s.AddUsage(t.Context(), []latchkey.Usage{
				{KeyID: "nope", Count: 7, LastUsedAt: base},
				{KeyID: "k1", Count: 2, LastUsedAt: base},
			}))
			wantUsage(t, f, "k1", 2, at(0))
			_, err := f.s.Key(t.Context(), "nope")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"empty batch does nothing", func(t *testing.T, f fixture) {
			must(t, f.s.AddUsage(t.Context(), nil))
			must(t, f.s.AddUsage(t.Context(), []latchkey.Usage{}))
		}},
		{"deleted key's usage is ignored", func(t *testing.T, f fixture) {
			f.user("u1")
			f.key("k1", "u1")
			must(t, f.s.DeleteKey(t.Context(), "k1"))
			must(t, f.s.AddUsage(t.Context(), []latchkey.Usage{{KeyID: "k1", Count: 1, LastUsedAt: base}}))
		}},
		{"exact under concurrency", func(t *testing.T, f fixture) {
			f.user("u1")
			f.key("k1", "u1")
			f.key("k2", "u1")
			const workers, batches = 8, 50
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					// Each worker sends its times in a random order, so the
					// last-used times arrive out of order.
					for _, i := range rand.Perm(batches) {
						when := base.Add(time.Duration(w*batches+i) * time.Millisecond)
						err := f.s.AddUsage(t.Context(), []latchkey.Usage{
							{KeyID: "k1", Count: 1, LastUsedAt: when},
							{KeyID: "k2", Count: 3, LastUsedAt: when},
						})
						if err != nil {
							t.Errorf("AddUsage: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			last := at(time.Duration(workers*batches-1) * time.Millisecond)
			wantUsage(t, f, "k1", workers*batches, last)
			wantUsage(t, f, "k2", 3*workers*batches, last)
		}},
	})
}
