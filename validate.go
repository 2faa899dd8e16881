package latchkey

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on client-supplied values.
const (
	MaxNameLen        = 100
	MaxIDLen          = 128
	MaxPermissions    = 100
	MaxPermissionLen  = 128
	MaxTenantsPerKey  = 100
	MaxMetaBytes      = 16 << 10
	MaxRateLimitCount = 1_000_000_000
	MinRateWindow     = time.Second
	MaxRateWindow     = 30 * 24 * time.Hour
)

// ValidID reports whether s may be a tenant or user ID chosen by an admin:
// 1–128 characters of [A-Za-z0-9._:@-]. IDs travel in headers and URLs, so
// nothing that needs escaping is allowed.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '@' || c == '-':
		default:
			return false
		}
	}
	return true
}

func validateID(field, s string) error {
	if !ValidID(s) {
		return Invalid("%s must be 1-%d characters of letters, digits and . _ : @ -", field, MaxIDLen)
	}
	return nil
}

// validateName checks a display name: required, at most 100 characters,
// valid UTF-8, no control characters.
func validateName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Invalid("%s is required", field)
	}
	if !utf8.ValidString(s) {
		return "", Invalid("%s must be valid UTF-8", field)
	}
	if utf8.RuneCountInString(s) > MaxNameLen {
		return "", Invalid("%s must be at most %d characters", field, MaxNameLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", Invalid("%s must not contain control characters", field)
		}
	}
	return s, nil
}

// ValidPermission reports whether p is a well-formed permission: "*", or
// colon-separated segments of [A-Za-z0-9_.-] where the last may be "*"
// ("messages:send", "messages:*").
func ValidPermission(p string) bool {
	if p == "*" {
		return true
	}
	if len(p) == 0 || len(p) > MaxPermissionLen {
		return false
	}
	segments := strings.Split(p, ":")
	for i, seg := range segments {
		if seg == "*" && i == len(segments)-1 && i > 0 {
			continue
		}
		if seg == "" {
			return false
		}
		for j := 0; j < len(seg); j++ {
			c := seg[j]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
				return false
			}
		}
	}
	return true
}

// normalizePermissions validates, deduplicates and keeps the order of perms.
func normalizePermissions(field string, perms []string) ([]string, error) {
	if len(perms) > MaxPermissions {
		return nil, Invalid("%s: at most %d permissions", field, MaxPermissions)
	}
	out := make([]string, 0, len(perms))
	seen := make(map[string]bool, len(perms))
	for _, p := range perms {
		if !ValidPermission(p) {
			return nil, Invalid("%s: %q is not a valid permission (use e.g. \"messages:send\", \"messages:*\" or \"*\")", field, truncate(p))
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// Grants reports whether a key holding granted may use required. "*" grants
// everything, "a:*" grants every permission that starts with "a:".
func Grants(granted []string, required string) bool {
	for _, g := range granted {
		if g == required || g == "*" {
			return true
		}
		if strings.HasSuffix(g, ":*") && strings.HasPrefix(required, g[:len(g)-1]) {
			return true
		}
	}
	return false
}

// ParseDuration accepts Go durations ("90m", "1h30m") and whole days ("30d").
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 36500 {
			return 0, Invalid("invalid duration %q", truncate(s))
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, Invalid("invalid duration %q (use e.g. \"30s\", \"1h\", \"30d\")", truncate(s))
	}
	return d, nil
}

// FormatDuration renders d in the shortest form ParseDuration reads back:
// "1m" rather than Go's "1m0s".
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// ValidateRateLimit checks a per-key limit.
func ValidateRateLimit(rl RateLimit) error {
	if rl.Limit < 1 || rl.Limit > MaxRateLimitCount {
		return Invalid("rateLimit.limit must be between 1 and %d", MaxRateLimitCount)
	}
	if rl.Window < MinRateWindow || rl.Window > MaxRateWindow {
		return Invalid("rateLimit.window must be between 1s and 30d")
	}
	return nil
}

// truncate shortens hostile input before it is echoed in an error message.
func truncate(s string) string { return Truncate(s, 64) }

// Truncate shortens s to at most max bytes, on a rune boundary, marking the
// cut with "…": for echoing client or operator input in messages.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return "…"
}
