package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

// The settings' parsers read what an operator typed: a typo must be an
// error that names the problem, and an accepted value must mean exactly
// what it says.

func FuzzParseRateLimit(f *testing.F) {
	for _, s := range []string{"100/1m", "1/1s", "0/1m", "-1/1m", "10/0s", "5/30d", "1/", "/1m", "1/1m/1", " 1/1m", "99999999999999999999/1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rl, err := parseRateLimit(s)
		if err != nil {
			// The value is quoted, clipped to 80 characters.
			if len(err.Error()) > 512 {
				t.Fatalf("error of %d bytes for %q", len(err.Error()), s)
			}
			return
		}
		if latchkey.ValidateRateLimit(rl) != nil {
			t.Fatalf("%q accepted as %+v, which is not a valid limit", s, rl)
		}
		again := fmt.Sprintf("%d/%s", rl.Limit, latchkey.FormatDuration(rl.Window))
		if back, err := parseRateLimit(again); err != nil || back != rl {
			t.Fatalf("%q → %+v does not round-trip through %q: %+v, %v", s, rl, again, back, err)
		}
	})
}

func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"127.0.0.1/32,::1/128", "10.0.0.0/8", "10.1.2.3/8", "192.168.0.1", "::1", ",", "", "10.0.0.0/33", "a,b", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePrefixes(s)
		if err != nil {
			return
		}
		parts := make([]string, len(ps))
		for i, p := range ps {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("%q gave %v, not a valid masked prefix", s, p)
			}
			parts[i] = p.String()
		}
		back, err := parsePrefixes(strings.Join(parts, ","))
		if err != nil || len(back) != len(ps) {
			t.Fatalf("%q → %v does not round-trip: %v, %v", s, ps, back, err)
		}
		for i := range ps {
			if back[i] != ps[i] {
				t.Fatalf("%q → %v does not round-trip: %v", s, ps, back)
			}
		}
	})
}

// FuzzParseDatabaseURL: a database URL may hold a password, so no error
// may repeat what was typed. The seeds' passwords carry a marker that no
// message contains; wherever the fuzzer keeps it, the error must not show it.
func FuzzParseDatabaseURL(f *testing.F) {
	const marker = "S3cr3tPw"
	for _, s := range []string{"sqlite:latchkey.db", "sqlite:", "sqlite://" + marker, "postgres://u:" + marker + "@localhost/db",
		"postgresql://u:" + marker + "@h:99999/db", "postgres://u:" + marker + "@h/db?sslmode=bogus",
		"postgres://u:" + marker + "@h/db?connect_timeout=x", "mysql://u:" + marker + "@h/db", "u:" + marker + "@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		db, err := parseDatabaseURL(raw)
		if err == nil {
			if db.Driver == "sqlite" && db.Path == "" || db.Driver == "postgres" && db.URL != raw || db.Driver != "sqlite" && db.Driver != "postgres" {
				t.Fatalf("%q accepted as %+v", raw, db)
			}
			return
		}
		if strings.Contains(err.Error(), marker) {
			t.Fatalf("error repeats what was typed in %q: %s", raw, err)
		}
	})
}

func FuzzParseHTTPURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080", "https://api.example.com/base", "http://u:p@h", "ftp://h", "http://", "/relative", "http://[::1]:80/x?y#z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := parseHTTPURL(raw)
		if err != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil {
			t.Fatalf("%q accepted as %#v", raw, u)
		}
	})
}
