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

// TestHTTPServerTimeouts runs net/http on a Listener: its header and idle
// timeouts still close connections, while keep-alive requests, whose
// handlers net/http interrupts a background read for, are not slowed.
func TestHTTPServerTimeouts(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "POST" {
				// A body deadline set the way Latchkey's handler sets
				// one (server.observer): through the ResponseController.
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
	go srv.Serve(NewListener(raw, 20*time.Millisecond))
	t.Cleanup(func() { srv.Close() })
	addr := raw.Addr().String()

	dial := func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedWithin reports whether the server closes c within d.
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		return err == nil // EOF: closed by the server; a timeout: still open
	}

	t.Run("keep-alive requests", func(t *testing.T) {
		c := dial(t)
		r := bufio.NewReader(c)
		start := time.Now()
		for i := range 200 {
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
			}
		}
		// Generous: a background read left waiting for a sweep would cost
		// a tick (20 ms) per request, 4 s in all.
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("200 keep-alive requests took %v", d)
		}
	})

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
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
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
		for i := range 10 {
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			resp.Body.Close()
			time.Sleep(100 * time.Millisecond)
		}
	})
}
