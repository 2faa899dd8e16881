// Package storetest is the conformance suite every latchkey.Store must pass.
// A store adapter's tests call Run with a function that opens a fresh, empty
// store; each subtest opens its own.
//
// Beyond the doc comments in latchkey.go, the suite pins down what callers
// may rely on:
//   - times come back in UTC, truncated to the microsecond;
//   - slices (TenantIDs, Permissions, Scopes) and Meta come back non-nil,
//     empty when nothing was stored;
//   - Meta round-trips through JSON, so numbers come back as float64;
//   - repeated tenant IDs in a key's or user's TenantIDs are stored once,
//     at their first position;
//   - RemoveMembership of a membership that does not exist does nothing;
//   - Update methods return the record as stored, ignoring changes fn made
//     to fields they do not write.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
)

// Run runs the whole suite against the stores open returns.
func Run(t *testing.T, open func(t *testing.T) latchkey.Store) {
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
	t.Run("Tenants", func(t *testing.T) { testTenants(t, open) })
	t.Run("Users", func(t *testing.T) { testUsers(t, open) })
	t.Run("Memberships", func(t *testing.T) { testMemberships(t, open) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, open) })
	t.Run("ListKeys", func(t *testing.T) { testListKeys(t, open) })
	t.Run("RotateKey", func(t *testing.T) { testRotateKey(t, open) })
	t.Run("Usage", func(t *testing.T) { testUsage(t, open) })
	t.Run("RootKeys", func(t *testing.T) { testRootKeys(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("OAuth", func(t *testing.T) { testOAuth(t, open) })
	t.Run("Catalog", func(t *testing.T) { testCatalog(t, open) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
}

// base is a fixed instant with nanoseconds, which stores drop: times read
// back equal base.Truncate(time.Microsecond)-derived values.
var base = time.Date(2024, 1, 15, 10, 30, 0, 123456789, time.UTC)

// at returns base plus d, truncated as a store returns it.
func at(d time.Duration) time.Time { return base.Add(d).Truncate(time.Microsecond) }

func ptr[T any](v T) *T { return &v }

// errBoom is what fns return to abort an update.
var errBoom = errors.New("boom")

// wantCode fails t unless err is a *latchkey.Error with the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *latchkey.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want a *latchkey.Error with code %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("error code = %s (%v), want %s", e.Code, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantEqual fails t, naming each differing field, unless got and want are
// deeply equal. Both must be pointers to the same struct type.
func wantEqual(t *testing.T, got, want any) {
	t.Helper()
	if diff := diffFields(got, want); diff != "" {
		t.Fatalf("%T differs:\n%s", want, diff)
	}
}

func diffFields(got, want any) string {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	if g.Kind() != reflect.Pointer || w.Kind() != reflect.Pointer || g.Type() != w.Type() {
		return fmt.Sprintf("got %T, want %T", got, want)
	}
	if g.IsNil() || w.IsNil() {
		if g.IsNil() != w.IsNil() {
			return fmt.Sprintf("got %v, want %v", got, want)
		}
		return ""
	}
	g, w = g.Elem(), w.Elem()
	var diff string
	for i := range g.NumField() {
		if !g.Type().Field(i).IsExported() {
			continue // in-memory state (a cached key's usage counter), never stored
		}
		gf, wf := g.Field(i).Interface(), w.Field(i).Interface()
		if !reflect.DeepEqual(gf, wf) {
			diff += fmt.Sprintf("  %s: got %s, want %s\n",
				g.Type().Field(i).Name, show(gf), show(wf))
		}
	}
	return diff
}

// show formats v, following pointers so that times and rate limits print.
func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return "&" + show(rv.Elem().Interface())
	}
	return fmt.Sprintf("%#v", v)
}

// fixture creates records through s, failing t on any error.
type fixture struct {
	t *testing.T
	s latchkey.Store
}

func (f fixture) ctx() context.Context { return f.t.Context() }

func (f fixture) tenant(id string) *latchkey.Tenant {
	f.t.Helper()
	tn := &latchkey.Tenant{ID: id, Name: "Tenant " + id, CreatedAt: base}
	must(f.t, f.s.CreateTenant(f.ctx(), tn))
	return tn
}

func (f fixture) user(id string, tenantIDs ...string) *latchkey.User {
	f.t.Helper()
	u := &latchkey.User{ID: id, TenantIDs: tenantIDs, CreatedAt: base}
	must(f.t, f.s.CreateUser(f.ctx(), u))
	return u
}

// newKey returns a live key owned by ownerID, with a freshly generated hash.
func newKey(t *testing.T, id, ownerID string, tenantIDs ...string) *latchkey.Key {
	t.Helper()
	g, err := apikey.Generate("lk", apikey.Live)
	must(t, err)
	if tenantIDs == nil {
		tenantIDs = []string{}
	}
	return &latchkey.Key{
		ID:          id,
		Hash:        g.Hash(),
		Masked:      g.Masked(),
		Name:        "key " + id,
		Environment: apikey.Live,
		Permissions: []string{},
		TenantIDs:   tenantIDs,
		OwnerID:     ownerID,
		IsActive:    true,
		CreatedAt:   at(0),
		Meta:        map[string]any{},
	}
}

func (f fixture) key(id, ownerID string, tenantIDs ...string) *latchkey.Key {
	f.t.Helper()
	k := newKey(f.t, id, ownerID, tenantIDs...)
	must(f.t, f.s.CreateKey(f.ctx(), k))
	return k
}

// keyTenants returns the TenantIDs of key id as stored.
func (f fixture) keyTenants(id string) []string {
	f.t.Helper()
	k, err := f.s.Key(f.ctx(), id)
	must(f.t, err)
	return k.TenantIDs
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s = nil, want non-nil %q", what, want)
	}
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// behaviour is one subtest: a fresh store and the test to run on it.
type behaviour struct {
	name string
	test func(t *testing.T, f fixture)
}

func runAll(t *testing.T, open func(t *testing.T) latchkey.Store, cases []behaviour) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.test(t, fixture{t: t, s: open(t)}) })
	}
}
