// Package clientaddr names the client an HTTP request comes from, so that
// what the client does (failed authentications, sign-in attempts) can be
// counted against it.
//
// The client is the connection's peer or, when the peer is a trusted proxy,
// the rightmost X-Forwarded-For entry that is not itself a trusted proxy:
// the entries left of it could have been made up by the client.
package clientaddr

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Of returns the name to count r's client by: its address, or for an IPv6
// client its /64 ("2001:db8:1:2::/64"), which one host usually controls
// whole. Counted per address, such a client could use a new one for every
// attempt. A peer address that does not parse is returned as it is.
func Of(r *http.Request, trusted []netip.Prefix) string {
	if len(trusted) == 0 {
		// The common case, without parsing into netip and an allocation:
		// net/http spells an IPv4 peer canonically.
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && !strings.Contains(host, ":") {
			if _, err := netip.ParseAddr(host); err == nil {
				return host
			}
		}
	}
	addr, ok := peer(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if contains(trusted, addr) {
		addr = forwardedClient(r.Header["X-Forwarded-For"], trusted, addr)
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// TrustedPeer reports whether the connection comes from a trusted proxy.
func TrustedPeer(remoteAddr string, trusted []netip.Prefix) bool {
	addr, ok := peer(remoteAddr)
	return ok && contains(trusted, addr)
}

// forwardedClient walks X-Forwarded-For from the right, starting at the
// trusted peer, to the first hop that is not trusted. A hop that does not
// parse ends the walk at the last trusted one: nothing left of it can be
// believed.
func forwardedClient(lines []string, trusted []netip.Prefix, addr netip.Addr) netip.Addr {
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var hop string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				hop, rest = rest[j+1:], rest[:j]
			} else {
				hop, rest = rest, ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(hop))
			if err != nil {
				return addr
			}
			addr = a.Unmap().WithZone("")
			if !contains(trusted, addr) {
				return addr
			}
		}
	}
	return addr
}

// peer parses a connection's remote address, with or without a port.
func peer(remote string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func contains(prefixes []netip.Prefix, addr netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
