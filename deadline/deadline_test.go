package deadline

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// pair returns both ends of a real TCP connection, the server's accepted
// through a Listener sweeping every tick.
func pair(t *testing.T, tick time.Duration) (*Listener, net.Conn, net.Conn) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(raw, tick)
	t.Cleanup(func() { l.Close() })
	client, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	if _, ok := server.(*conn); !ok {
		t.Fatalf("accepted %T, want *conn", server)
	}
	return l, client, server
}

// readResult reads one byte from c in the background.
func readResult(c net.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	return done
}

func wantTimeout(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read returned %v, want a deadline error", err)
	}
}

func TestFarDeadlineIsEnforcedBySweep(t *testing.T) {
	_, client, server := pair(t, 20*time.Millisecond)
	start := time.Now()
	if err := server.SetReadDeadline(start.Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if server.(*conn).due.Load() == 0 {
		t.Fatal("a deadline 15 ticks away went to the socket; it should only be recorded")
	}
	select {
	case err := <-readResult(server):
		wantTimeout(t, err)
		if waited := time.Since(start); waited < 300*time.Millisecond {
			t.Fatalf("the read failed after %v, before its deadline", waited)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read past its deadline was never interrupted")
	}
	// As with any net.Conn, a new deadline makes the connection readable
	// again: the expired one must leave the socket.
	if err := server.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-readResult(server); err != nil {
		t.Fatalf("read after a new deadline: %v", err)
	}
}

func TestPastDeadlineInterruptsAtOnce(t *testing.T) {
	// A tick of an hour: only a deadline put on the socket can end the read.
	_, _, server := pair(t, time.Hour)
	done := readResult(server)
	time.Sleep(20 * time.Millisecond) // let the read block
	if err := server.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		wantTimeout(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("a deadline in the past did not interrupt the read")
	}
}

func TestClearedOrMovedDeadlineIsNotEnforced(t *testing.T) {
	for _, tc := range []struct {
		name string
		next func() time.Time
	}{
		{"cleared", func() time.Time { return time.Time{} }},
		{"moved later", func() time.Time { return time.Now().Add(time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, client, server := pair(t, 10*time.Millisecond)
			if err := server.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			if err := server.SetReadDeadline(tc.next()); err != nil {
				t.Fatal(err)
			}
			done := readResult(server)
			time.Sleep(300 * time.Millisecond) // well past the first deadline and many sweeps
			if _, err := client.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("read returned %v; the first deadline was enforced after it was replaced", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the read never returned")
			}
		})
	}
}

func TestClosedConnectionsAreForgotten(t *testing.T) {
	l, _, server := pair(t, time.Hour)
	server.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.conns); n != 0 {
		t.Fatalf("%d connections still tracked after close", n)
	}
}

// startServer serves a test handler with net/http's header and idle
// timeouts (300 and 400 ms) on a Listener sweeping every tick, and returns
// a dialer for it. POST bodies get a 300 ms read deadline, set the way
// Latchkey's handler sets one (server.observer): through the
// ResponseController; a body cut off by it is answered 408.
func startServer(t *testing.T, tick time.Duration) (dial func(*testing.T) net.Conn) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "POST" {
				http.NewResponseController(w).SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				if _, err := io.ReadAll(r.Body); err != nil {
					http.Error(w, "body: "+err.Error(), http.StatusRequestTimeout)
					return
				}
			}
			fmt.Fprint(w, "ok")
		}),
		ReadHeaderTimeout: 300 * time.Millisecond,
		IdleTimeout:       400 * time.Millisecond,
	}
	go srv.Serve(NewListener(raw, tick))
	t.Cleanup(func() { srv.Close() })
	return func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// get sends GET / on c and fails t unless the answer, read through r, is
// 200 "ok" within 5 s.
func get(t *testing.T, c net.Conn, r *bufio.Reader) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return err == nil // EOF: closed by the server; a timeout: still open
}

// TestKeepAliveRequests sends many requests on one connection: after
// each, net/http interrupts its background read with a past deadline and
// clears it, which must leave the connection usable.
func TestKeepAliveRequests(t *testing.T) {
	c := startServer(t, 20*time.Millisecond)(t)
	r := bufio.NewReader(c)
	for range 200 {
		get(t, c, r)
	}
}

// TestNearDeadlinesGoToTheSocket: with a tick of an hour, net/http's 400 ms
// idle timeout is near, so only the socket can enforce it.
func TestNearDeadlinesGoToTheSocket(t *testing.T) {
	c := startServer(t, time.Hour)(t)
	get(t, c, bufio.NewReader(c))
	if !closedWithin(c, 3*time.Second) {
		t.Fatal("an idle connection was not closed: a near deadline waited for the sweep")
	}
}

// TestHTTPServerTimeouts runs net/http on a Listener: its header, idle and
// body timeouts still close connections, and only when they are due.
func TestHTTPServerTimeouts(t *testing.T) {
	dial := startServer(t, 20*time.Millisecond)

	t.Run("slow headers", func(t *testing.T) {
		c := dial(t)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // never finished
		if !closedWithin(c, 3*time.Second) {
			t.Fatal("a request whose headers never end was not cut off")
		}
	})

	t.Run("stalled body", func(t *testing.T) {
		c := dial(t)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf") // 6 bytes never come
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to a stalled body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("a stalled body got %d, want the handler's 408 after its read deadline", resp.StatusCode)
		}
	})

	t.Run("idle connection", func(t *testing.T) {
		c := dial(t)
		get(t, c, bufio.NewReader(c))
		start := time.Now()
		if !closedWithin(c, 3*time.Second) {
			t.Fatal("an idle keep-alive connection was not closed")
		}
		if d := time.Since(start); d < 350*time.Millisecond {
			t.Fatalf("the idle connection was closed after %v, before the idle timeout", d)
		}
	})

	t.Run("busy connection outlives the idle timeout", func(t *testing.T) {
		c := dial(t)
		r := bufio.NewReader(c)
		// Requests every 100 ms for a second: well past the idle
		// timeout in all, never idle for as long.
		for range 10 {
			get(t, c, r)
			time.Sleep(100 * time.Millisecond)
		}
	})
}
