package postgres

import (
	"testing"
	"time"
)

// SetListenTimings shortens the listener's liveness check for t.
func SetListenTimings(t testing.TB, ping, timeout time.Duration) {
	oldPing, oldTimeout := listenPing, listenPingTimeout
	listenPing, listenPingTimeout = ping, timeout
	t.Cleanup(func() { listenPing, listenPingTimeout = oldPing, oldTimeout })
}
