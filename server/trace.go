package server

import (
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/clientaddr"
)

// requestInfo is per-request state shared by the middleware and the
// handlers: the trace ID every response carries, and the error code of the
// response (for the request log line).
type requestInfo struct {
	traceID string
	code    string
	// routine marks a hot-path request (a forward-auth check, a proxied
	// request): its success is logged at debug level only, since at
	// thousands per second one log line each costs more CPU than the check
	// itself (bench/load.sh). Its failures are logged as any other.
	routine bool
	trusted []netip.Prefix // proxies whose X-Forwarded-For names the client
	req     *http.Request  // the request as received, for its client address
	// identity is where the request's credential is verified into
	// (authorizer.authorize), and identityValues back the identity
	// headers of the response (setIdentity): neither costs an allocation
	// of its own.
	identity       latchkey.Identity
	identityValues [5]string
	// limit is the state of a rate limit the request was counted against
	// outside the verification pipeline (the management API's per user).
	limit *latchkey.LimitStatus
}

// ClientIP is the request's client address through the trusted proxies
// (a latchkey.ClientAddr, so Verify resolves it only when it needs it);
// "" for a request that did not pass through the observer.
func (info *requestInfo) ClientIP() string {
	if info.req == nil {
		return ""
	}
	return clientaddr.Of(info.req, info.trusted)
}

// infoOf returns the info of the request w answers, kept in the exchange
// the observer wraps every response in; a fresh one (with a new trace ID)
// when w did not come from the observer, as in unit tests. It is reached
// through the writer rather than a context value, which would cost a copy
// of the request and two allocations on every forward-auth check.
func infoOf(w http.ResponseWriter) *requestInfo {
	for {
		switch v := w.(type) {
		case *exchange:
			return &v.info
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return &requestInfo{traceID: traceparent("")}
		}
	}
}

// traceparentLen is the length of a version 00 traceparent.
const traceparentLen = 55

// traceparent returns "00-<trace-id>-<span-id>-<flags>" with a new span ID.
// When incoming is a valid traceparent, its trace ID and sampled flag are
// kept; else the trace is new (and sampled).
func traceparent(incoming string) string {
	var b [traceparentLen]byte
	putTraceparent(&b, incoming)
	return string(b[:])
}

// putTraceparent writes traceparent(incoming) into b, for a caller that
// keeps the buffer (the observer's exchange) and so needs no allocation.
func putTraceparent(b *[traceparentLen]byte, incoming string) {
	copy(b[:], "00-")
	traceID, sampled, ok := parseTraceparent(incoming)
	if ok {
		copy(b[3:35], traceID)
	} else {
		putHex64(b[3:19], nonZeroRandom())
		putHex64(b[19:35], rand.Uint64())
		sampled = true
	}
	b[35] = '-'
	putHex64(b[36:52], nonZeroRandom())
	copy(b[52:], "-00")
	if sampled {
		b[54] = '1'
	}
}

// nonZeroRandom returns a random uint64 other than 0, so that no ID is
// all zeros. Trace IDs must be random, not secret (W3C Trace Context
// §3.2.2.3): math/rand/v2's per-thread generator is enough, and cheaper
// on every request than crypto/rand.
func nonZeroRandom() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

// putHex64 writes v as 16 lowercase hex digits.
func putHex64(dst []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

// parseTraceparent extracts the trace ID and the sampled flag of a
// traceparent header (W3C Trace Context §3.2): lowercase hex fields,
// neither ID all zeros. Version 00 is exactly 55 characters. A later
// version (any but ff) is read by the fields version 00 has, and may be
// followed by more fields after a dash (§4.3, versioning).
func parseTraceparent(h string) (traceID string, sampled, ok bool) {
	// <2 hex version>-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>
	if len(h) < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return "", false, false
	}
	version, spanID, flags := h[:2], h[36:52], h[53:55]
	traceID = h[3:35]
	switch {
	case !lowerHex(version) || version == "ff":
		return "", false, false
	case version == "00" && len(h) != 55:
		return "", false, false
	case len(h) > 55 && h[55] != '-':
		return "", false, false
	case !lowerHex(traceID) || !lowerHex(spanID) || !lowerHex(flags) || allZero(traceID) || allZero(spanID):
		return "", false, false
	}
	// The sampled flag is the lowest bit of the last hex digit.
	return traceID, strings.IndexByte("13579bdf", flags[1]) >= 0, true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
