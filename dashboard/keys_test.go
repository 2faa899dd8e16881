package dashboard

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// FuzzKeyForm posts any form body to the new-key form's parser: it either
// builds the service's input or refuses with VALIDATION_FAILED, and the
// permissions typed as text arrive as distinct, non-empty names.
func FuzzKeyForm(f *testing.F) {
	f.Add("name=k&environment=live&permissions=a:b,+c:d%0Aa:b&tenant=t1&expires=30d&rate_limit=10&rate_window=1m")
	f.Add("name=k&permission=a:b&permission=a:b&expires=1y")
	f.Add("rate_limit=0&rate_window=1m")
	f.Add("rate_limit=9999999999999999999999&rate_window=1h")
	f.Add("rate_limit=5&rate_window=forever")
	f.Add("permissions=%00,%E2%80%8B&name=%FF")
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/keys/new", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		form := parseKeyForm(r)
		seen := map[string]bool{}
		for p := range strings.FieldsFuncSeq(form.PermText, func(c rune) bool { return strings.ContainsRune(", \n\r\t", c) }) {
			seen[p] = true
		}
		counted := map[string]int{}
		for _, p := range form.Permissions {
			counted[p]++
		}
		for p := range seen {
			if counted[p] == 0 {
				t.Fatalf("typed permission %q lost: %q", p, form.Permissions)
			}
			if counted[p] > 1 && !slices.Contains(r.PostForm["permission"], p) {
				t.Fatalf("typed permission %q listed %d times", p, counted[p])
			}
		}
		in, err := form.newKey(now)
		if err != nil {
			var e *latchkey.Error
			if !errors.As(err, &e) || e.Code != latchkey.CodeValidationFailed {
				t.Fatalf("error %v is not VALIDATION_FAILED", err)
			}
			return
		}
		if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
			t.Fatalf("expiry %v is not in the future", in.ExpiresAt)
		}
		if in.RateLimit != nil && in.RateLimit.Limit < 1 {
			t.Fatalf("rate limit %+v admits nothing", in.RateLimit)
		}
		if in.Permissions == nil || in.TenantIDs == nil {
			t.Fatalf("nil lists in %+v", in)
		}
	})
}
