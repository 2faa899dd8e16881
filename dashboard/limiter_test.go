package dashboard

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	t.Run("a burst, then one per interval", func(t *testing.T) {
		l := newLimiter(limit{Burst: 3, Every: 10 * time.Second}, clock)
		for i := range 3 {
			if ok, _ := l.allow("a"); !ok {
				t.Fatalf("attempt %d refused", i+1)
			}
		}
		ok, wait := l.allow("a")
		if ok || wait != 10*time.Second {
			t.Fatalf("4th attempt: ok=%v wait=%v; want refused, 10s", ok, wait)
		}
		if ok, _ := l.allow("b"); !ok {
			t.Fatal("another key shares the bucket")
		}
		now = now.Add(10 * time.Second)
		if ok, _ := l.allow("a"); !ok {
			t.Fatal("no attempt earned back after the interval")
		}
		if ok, _ := l.allow("a"); ok {
			t.Fatal("more than one attempt earned back")
		}
		l.reset("a")
		if ok, _ := l.allow("a"); !ok {
			t.Fatal("reset did not restore the burst")
		}
	})
	t.Run("memory stays bounded", func(t *testing.T) {
		l := newLimiter(limit{Burst: 1, Every: time.Second}, clock)
		for i := range maxBuckets + 10 {
			l.allow(strconv.Itoa(i))
		}
		if n := len(l.buckets); n > maxBuckets {
			t.Fatalf("%d buckets, want at most %d", n, maxBuckets)
		}
	})
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "/settings/api-keys",
		"/admin/users":         "/admin/users",
		"//evil.example":       "/settings/api-keys",
		"/\\evil.example":      "/settings/api-keys",
		"https://evil.example": "/settings/api-keys",
		"javascript:alert(1)":  "/settings/api-keys",
		"/ok\r\nSet-Cookie: x": "/settings/api-keys",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
