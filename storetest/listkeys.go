package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
)

func testListKeys(t *testing.T, open func(t *testing.T) latchkey.Store) {
	// seed creates 23 keys across two owners, two environments and two
	// tenants, with only five distinct creation times (many ties) and IDs
	// that do not follow creation order. It returns them newest first.
	seed := func(f fixture) []*latchkey.Key {
		f.t.Helper()
		f.tenant("t1")
		f.tenant("t2")
		f.user("u1", "t1", "t2")
		f.user("u2", "t1", "t2")
		var keys []*latchkey.Key
		for i := range 23 {
			owner := []string{"u1", "u2"}[i%2]
			tenants := [][]string{{"t1"}, {"t2", "t1"}, {}, {"t2"}}[i%4]
			k := newKey(f.t, fmt.Sprintf("k%02d", (i*7)%23), owner, tenants...)
			k.CreatedAt = base.Add(time.Duration(i%5) * time.Minute)
			if i%3 == 0 {
				k.Environment = apikey.Test
			}
			must(f.t, f.s.CreateKey(f.ctx(), k))
			keys = append(keys, stored(k))
		}
		slices.SortFunc(keys, func(a, b *latchkey.Key) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		return keys
	}
	ids := func(keys []*latchkey.Key) []string {
		out := []string{}
		for _, k := range keys {
			out = append(out, k.ID)
		}
		return out
	}
	filters := []struct {
		name   string
		filter latchkey.KeyFilter
		match  func(k *latchkey.Key) bool
	}{
		{"all", latchkey.KeyFilter{},
			func(*latchkey.Key) bool { return true }},
		{"owner", latchkey.KeyFilter{OwnerID: "u1"},
			func(k *latchkey.Key) bool { return k.OwnerID == "u1" }},
		{"tenant", latchkey.KeyFilter{TenantID: "t1"},
			func(k *latchkey.Key) bool { return slices.Contains(k.TenantIDs, "t1") }},
		{"environment", latchkey.KeyFilter{Environment: apikey.Test},
			func(k *latchkey.Key) bool { return k.Environment == apikey.Test }},
		{"owner tenant and environment", latchkey.KeyFilter{OwnerID: "u2", TenantID: "t2", Environment: apikey.Live},
			func(k *latchkey.Key) bool {
				return k.OwnerID == "u2" && slices.Contains(k.TenantIDs, "t2") && k.Environment == apikey.Live
			}},
		{"unknown owner", latchkey.KeyFilter{OwnerID: "nope"},
			func(*latchkey.Key) bool { return false }},
	}

	t.Run("newest first with full keys", func(t *testing.T) {
		f := fixture{t: t, s: open(t)}
		all := seed(f)
		got, err := f.s.ListKeys(t.Context(), latchkey.KeyFilter{Limit: 100})
		must(t, err)
		wantIDs(t, "listed keys", ids(got), ids(all))
		for i := range got {
			wantEqual(t, got[i], all[i])
		}
	})

	t.Run("cursor pages cover every key exactly once", func(t *testing.T) {
		f := fixture{t: t, s: open(t)}
		all := seed(f)
		for _, c := range filters {
			want := ids(slices.DeleteFunc(slices.Clone(all), func(k *latchkey.Key) bool { return !c.match(k) }))
			for _, size := range []int{1, 2, 3, 7, 23, 100} {
				t.Run(fmt.Sprintf("%s by %d", c.name, size), func(t *testing.T) {
					filter := c.filter
					filter.Limit = size
					got := []string{}
					for range len(all) + 2 {
						page, err := f.s.ListKeys(t.Context(), filter)
						must(t, err)
						if len(page) > size {
							t.Fatalf("page of %d keys, limit %d", len(page), size)
						}
						got = append(got, ids(page)...)
						if len(page) < size {
							break
						}
						last := page[len(page)-1]
						filter.Before = &latchkey.KeyCursor{CreatedAt: last.CreatedAt, ID: last.ID}
					}
					wantIDs(t, "paged keys", got, want)
				})
			}
		}
	})

	t.Run("cursor is strictly before in time then id order", func(t *testing.T) {
		f := fixture{t: t, s: open(t)}
		all := seed(f)
		for _, c := range []struct {
			name   string
			cursor latchkey.KeyCursor
		}{
			{"between times", latchkey.KeyCursor{CreatedAt: base.Add(2*time.Minute + 30*time.Second)}},
			{"at a time with empty id", latchkey.KeyCursor{CreatedAt: at(2 * time.Minute)}},
			{"at a time and id", latchkey.KeyCursor{CreatedAt: at(2 * time.Minute), ID: "k10"}},
			{"before everything", latchkey.KeyCursor{CreatedAt: base.Add(-time.Hour)}},
			{"after everything", latchkey.KeyCursor{CreatedAt: base.Add(time.Hour)}},
		} {
			t.Run(c.name, func(t *testing.T) {
				var want []string
				for _, k := range all {
					if k.CreatedAt.Before(c.cursor.CreatedAt) ||
						k.CreatedAt.Equal(c.cursor.CreatedAt) && k.ID < c.cursor.ID {
						want = append(want, k.ID)
					}
				}
				got, err := f.s.ListKeys(t.Context(), latchkey.KeyFilter{Limit: 100, Before: &c.cursor})
				must(t, err)
				wantIDs(t, "keys before cursor", ids(got), want)
			})
		}
	})

	t.Run("empty store lists nothing", func(t *testing.T) {
		f := fixture{t: t, s: open(t)}
		got, err := f.s.ListKeys(t.Context(), latchkey.KeyFilter{Limit: 10})
		must(t, err)
		wantIDs(t, "listed keys", ids(got), nil)
	})
}
