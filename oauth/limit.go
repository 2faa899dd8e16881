package oauth

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// maxTrackedAddrs bounds the limiter's memory under a flood of addresses.
const maxTrackedAddrs = 100_000

// failureLimiter counts failed client authentications per client address
// in fixed windows. An address that reaches the limit is refused, without
// its credentials being checked, until its window ends. It is per node and
// in memory: enough to make guessing client secrets (155 random bits)
// pointless, and it needs no shared state.
type failureLimiter struct {
	limit  int
	window time.Duration
	clock  func() time.Time

	mu      sync.Mutex
	entries map[string]*failureWindow
}

type failureWindow struct {
	start time.Time
	count int
}

func newFailureLimiter(limit int, window time.Duration) *failureLimiter {
	return &failureLimiter{limit: limit, window: window, clock: time.Now, entries: map[string]*failureWindow{}}
}

// blocked returns how long addr must wait, or 0 when it may try.
func (l *failureLimiter) blocked(addr string) time.Duration {
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[addr]
	if e == nil {
		return 0
	}
	end := e.start.Add(l.window)
	if !now.Before(end) {
		delete(l.entries, addr)
		return 0
	}
	if e.count < l.limit {
		return 0
	}
	return end.Sub(now)
}

// fail records a failed authentication from addr.
func (l *failureLimiter) fail(addr string) {
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[addr]
	if e != nil && !now.Before(e.start.Add(l.window)) {
		e = nil
	}
	if e == nil {
		if len(l.entries) >= maxTrackedAddrs {
			l.sweep(now)
		}
		e = &failureWindow{start: now}
		l.entries[addr] = e
	}
	e.count++
}

// sweep drops ended windows and, if the table is still full, an arbitrary
// entry. Caller holds mu.
func (l *failureLimiter) sweep(now time.Time) {
	for addr, e := range l.entries {
		if !now.Before(e.start.Add(l.window)) {
			delete(l.entries, addr)
		}
	}
	for addr := range l.entries {
		if len(l.entries) < maxTrackedAddrs {
			break
		}
		delete(l.entries, addr)
	}
}

// clientAddr names the client a request comes from, for counting its
// failures: the peer address, or, when the peer is a trusted proxy, the
// right-most untrusted address of X-Forwarded-For. IPv6 clients are
// counted per /64, which one host usually controls whole.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	addr, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	ip := addr.Addr().Unmap().WithZone("")
	if isTrusted(trusted, ip) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			ip = hop.Unmap().WithZone("")
			if !isTrusted(trusted, ip) {
				break
			}
		}
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func isTrusted(trusted []netip.Prefix, ip netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
