package clientaddr

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

var trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("fd00::/8")}

func TestOf(t *testing.T) {
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"untrusted peer ignores XFF", "192.0.2.1:5000", []string{"203.0.113.9"}, "192.0.2.1"},
		{"trusted peer, one hop", "127.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted chain skips trusted hops", "10.0.0.1:5000", []string{"198.51.100.7, 203.0.113.9, 10.1.1.1"}, "203.0.113.9"},
		{"several header lines", "10.0.0.1:5000", []string{"198.51.100.7", "203.0.113.9"}, "203.0.113.9"},
		{"trusted hops across lines", "10.0.0.1:5000", []string{"198.51.100.7", "10.3.3.3"}, "198.51.100.7"},
		{"spoofed left entries are not believed", "127.0.0.1:1", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"garbage left of the client is never reached", "127.0.0.1:1", []string{"garbage, 198.51.100.1"}, "198.51.100.1"},
		{"garbage stops at the last trusted hop", "127.0.0.1:1", []string{"198.51.100.1, garbage"}, "127.0.0.1"},
		{"garbage after trusted hops", "10.0.0.1:1", []string{"198.51.100.1, garbage, 10.2.2.2"}, "10.2.2.2"},
		{"trailing comma", "127.0.0.1:1", []string{"198.51.100.1, "}, "127.0.0.1"},
		{"trusted peer without XFF", "127.0.0.1:1", nil, "127.0.0.1"},
		{"all hops trusted", "10.0.0.1:1", []string{"10.2.2.2"}, "10.2.2.2"},
		{"ipv4-mapped peer", "[::ffff:192.0.2.5]:80", nil, "192.0.2.5"},
		{"ipv4-mapped hop", "127.0.0.1:1", []string{"::ffff:198.51.100.3"}, "198.51.100.3"},
		{"ipv6 peer per /64", "[2001:db8:1:2::1]:443", nil, "2001:db8:1:2::/64"},
		{"ipv6 hop per /64", "[fd00::1]:443", []string{"2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"},
		{"ipv6 zone dropped", "[fe80::1%eth0]:80", nil, "fe80::/64"},
		{"peer without a port", "192.0.2.7", nil, "192.0.2.7"},
		{"peer that does not parse", "not an address", nil, "not an address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := Of(r, trusted); got != c.want {
				t.Fatalf("Of(%s, %q) = %q, want %q", c.remote, c.xff, got, c.want)
			}
		})
	}
}

// Without trusted proxies, the header is never read and the peer is
// spelt canonically.
func TestOfWithoutTrustedProxies(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.1:5000":        "192.0.2.1",
		"[2001:db8::1]:443":     "2001:db8::/64",
		"[2001:DB8:0::1]:443":   "2001:db8::/64",
		"[::ffff:192.0.2.5]:80": "192.0.2.5",
		"[fe80::1%eth0]:80":     "fe80::/64",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		if got := Of(r, nil); got != want {
			t.Errorf("peer %s: Of = %q, want %q", remote, got, want)
		}
	}
}

func TestTrustedPeer(t *testing.T) {
	for remote, want := range map[string]bool{
		"127.0.0.1:80":          true,
		"10.9.9.9:80":           true,
		"[::ffff:10.0.0.1]:80":  true,
		"[fd00::5%eth0]:80":     true,
		"192.0.2.1:80":          false,
		"[2001:db8::1]:80":      false,
		"garbage":               false,
		"":                      false,
		"127.0.0.1":             true,
		"[::ffff:192.0.2.1]:80": false,
	} {
		if got := TrustedPeer(remote, trusted); got != want {
			t.Errorf("TrustedPeer(%q) = %v, want %v", remote, got, want)
		}
	}
}

func BenchmarkOfUntrustedIPv4(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:5000"
	b.ReportAllocs()
	for b.Loop() {
		Of(r, nil)
	}
}

// FuzzOf: any peer and X-Forwarded-For give an address, a /64 or, for a
// peer that does not parse, the peer as it is; never a panic.
func FuzzOf(f *testing.F) {
	f.Add("127.0.0.1:1", "198.51.100.1, 10.0.0.1")
	f.Add("[fd00::1]:2", "2001:db8::1,,garbage")
	f.Add("10.0.0.1:3", " , ::ffff:1.2.3.4 ")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header["X-Forwarded-For"] = strings.Split(xff, "\n")
		got := Of(r, trusted)
		if got == remote {
			return
		}
		if _, err := netip.ParseAddr(got); err == nil {
			return
		}
		if p, err := netip.ParsePrefix(got); err == nil && p.Bits() == 64 {
			return
		}
		t.Fatalf("Of(%q, %q) = %q: neither an address, a /64 nor the peer", remote, xff, got)
	})
}
