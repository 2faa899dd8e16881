package latchkey

import (
	"strings"
	"testing"
	"time"
)

func TestGrants(t *testing.T) {
	cases := []struct {
		granted  []string
		required string
		want     bool
	}{
		{[]string{"messages:send"}, "messages:send", true},
		{[]string{"messages:send"}, "messages:read", false},
		{[]string{"*"}, "anything:at:all", true},
		{[]string{"messages:*"}, "messages:send", true},
		{[]string{"messages:*"}, "messages:admin:delete", true},
		{[]string{"messages:*"}, "messages", false},
		{[]string{"messages:*"}, "messagesX:send", false},
		{[]string{"messages:*"}, "billing:read", false},
		{[]string{"a:b:*"}, "a:b:c", true},
		{[]string{"a:b:*"}, "a:c", false},
		{nil, "messages:send", false},
		{[]string{}, "", false},
	}
	for _, c := range cases {
		if got := Grants(c.granted, c.required); got != c.want {
			t.Errorf("Grants(%q, %q) = %v, want %v", c.granted, c.required, got, c.want)
		}
	}
}

func TestValidPermission(t *testing.T) {
	valid := []string{"*", "messages:send", "messages:*", "a", "a.b-c_d:e", "x:y:z", "X:Y"}
	invalid := []string{"", ":", "a:", ":a", "a::b", "*:a", "a:*:b", "a b", "a/b", "messages:sénd", "a\n", strings.Repeat("a", MaxPermissionLen+1), "**", "a:**"}
	for _, p := range valid {
		if !ValidPermission(p) {
			t.Errorf("ValidPermission(%q) = false, want true", p)
		}
	}
	for _, p := range invalid {
		if ValidPermission(p) {
			t.Errorf("ValidPermission(%q) = true, want false", p)
		}
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"0s": 0, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "30d": 30 * 24 * time.Hour, "1d": 24 * time.Hour}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "1.5d", "soon", "10", "99999999d", "1w"} {
		if _, err := ParseDuration(in); ErrorCode(err) != CodeValidationFailed {
			t.Errorf("ParseDuration(%q) error = %v, want VALIDATION_FAILED", in, err)
		}
	}
}

func TestFormatDurationRoundTrips(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, 90 * time.Second, time.Minute, time.Hour, 36 * time.Hour, 24 * time.Hour, 1500 * time.Millisecond} {
		s := FormatDuration(d)
		back, err := ParseDuration(s)
		if err != nil || back != d {
			t.Errorf("FormatDuration(%v) = %q, which parses back to %v, %v", d, s, back, err)
		}
	}
	if got := FormatDuration(time.Minute); got != "1m" {
		t.Errorf("FormatDuration(1m) = %q, want \"1m\"", got)
	}
}

func TestValidID(t *testing.T) {
	for _, id := range []string{"123", "user-123", "a.b_c:d@e", strings.Repeat("x", MaxIDLen)} {
		if !ValidID(id) {
			t.Errorf("ValidID(%q) = false", id)
		}
	}
	for _, id := range []string{"", " ", "a b", "a/b", "a\x00", "ü", "<script>", strings.Repeat("x", MaxIDLen+1)} {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
	}
}

func TestValidateName(t *testing.T) {
	if got, err := validateName("name", "  My App  "); err != nil || got != "My App" {
		t.Errorf("validateName trims: got %q, %v", got, err)
	}
	if _, err := validateName("name", strings.Repeat("é", MaxNameLen)); err != nil {
		t.Errorf("100 runes of é rejected: %v", err)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("a", MaxNameLen+1), "a\x00b", "tab\there", "\xff\xfe"} {
		if _, err := validateName("name", bad); ErrorCode(err) != CodeValidationFailed {
			t.Errorf("validateName(%q) = %v, want VALIDATION_FAILED", bad, err)
		}
	}
}

func TestCursorRoundTripAndHostileInput(t *testing.T) {
	c := KeyCursor{CreatedAt: time.UnixMicro(1700000000123456).UTC(), ID: "key_abc"}
	got, err := decodeCursor(encodeCursor(c))
	if err != nil || !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"!!", "bm9kb3Q", "Lmtl", strings.Repeat("A", 1000), "MTIz"} {
		if _, err := decodeCursor(bad); ErrorCode(err) != CodeValidationFailed {
			t.Errorf("decodeCursor(%q) = %v, want VALIDATION_FAILED", bad, err)
		}
	}
}

// FuzzDecodeCursor: a page cursor comes back from the client, so any
// string may arrive. It is refused with VALIDATION_FAILED or decodes to a
// cursor that encodes back to the same position.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(KeyCursor{CreatedAt: time.UnixMicro(1700000000123456).UTC(), ID: "key_abc"}))
	f.Add(encodeCursor(KeyCursor{CreatedAt: time.UnixMicro(-1).UTC(), ID: "a.b"}))
	for _, s := range []string{"", "!!", "bm9kb3Q", "Lmtl", "MTIz", "LTkyMjMzNzIwMzY4NTQ3NzU4MDguYQ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			if ErrorCode(err) != CodeValidationFailed {
				t.Fatalf("decodeCursor(%q) = %v, want VALIDATION_FAILED", s, err)
			}
			return
		}
		if c.ID == "" {
			t.Fatalf("decodeCursor(%q) gave an empty ID", s)
		}
		back, err := decodeCursor(encodeCursor(*c))
		if err != nil || !back.CreatedAt.Equal(c.CreatedAt) || back.ID != c.ID {
			t.Fatalf("%q → %+v does not round-trip: %+v, %v", s, c, back, err)
		}
	})
}

func TestTruncateKeepsUTF8(t *testing.T) {
	s := truncate(strings.Repeat("é", 100))
	if len(s) > 70 || !strings.HasSuffix(s, "…") {
		t.Fatalf("truncate = %q", s)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1h", "30d", "", "-5m", "1e9h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if ErrorCode(err) != CodeValidationFailed {
				t.Fatalf("error %v is not VALIDATION_FAILED", err)
			}
			return
		}
		if d >= 0 {
			if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
				t.Fatalf("%q → %v does not round-trip through %q", s, d, FormatDuration(d))
			}
		}
	})
}

func FuzzValidPermission(f *testing.F) {
	for _, s := range []string{"*", "a:*", "a:b", "a::", ""} {
		f.Add(s, "a:b")
	}
	f.Fuzz(func(t *testing.T, granted, required string) {
		if !ValidPermission(granted) {
			return
		}
		// A valid exact permission always grants itself; "*" grants anything.
		if !Grants([]string{granted}, granted) {
			t.Fatalf("%q does not grant itself", granted)
		}
		if !Grants([]string{"*"}, required) {
			t.Fatal("* must grant everything")
		}
	})
}
