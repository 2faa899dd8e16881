package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// ExpiriesRoundedByMigration checks the migration that keeps key expiries
// in whole seconds: a key written with a fractional expiry, as versions
// before it kept them, has it rounded down once rerun applies the migration
// again; a whole-second expiry and no expiry stay as they are.
func ExpiriesRoundedByMigration(t *testing.T, s latchkey.Store, rerun func()) {
	f := fixture{t, s}
	f.user("u1")
	fraction := base.Add(time.Hour + 567891*time.Microsecond)
	whole := base.Add(2 * time.Hour).Truncate(time.Second)
	for id, exp := range map[string]*time.Time{"fraction": &fraction, "whole": &whole, "none": nil} {
		k := newKey(t, id, "u1")
		k.ExpiresAt = exp
		must(t, s.CreateKey(f.ctx(), k))
	}
	rerun()
	for id, want := range map[string]*time.Time{"fraction": ptr(fraction.Truncate(time.Second)), "whole": &whole, "none": nil} {
		k, err := s.Key(f.ctx(), id)
		must(t, err)
		if (k.ExpiresAt == nil) != (want == nil) || (want != nil && !k.ExpiresAt.Equal(*want)) {
			t.Errorf("key %s: expiresAt = %v, want %v", id, k.ExpiresAt, want)
		}
	}
}
