package server

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// timeoutServer serves h through an observer with the given body timeouts,
// as serve does (no http.Server read or write timeout).
func timeoutServer(t *testing.T, h http.Handler, read, write time.Duration) *httptest.Server {
	t.Helper()
	rs := &responder{log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewUnstartedServer(&observer{next: h, rs: rs, bodyLimit: maxBodyBytes, readTimeout: read, writeTimeout: write})
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestSlowRequestBodyIsCutOff(t *testing.T) {
	readErr := make(chan error, 1)
	srv := timeoutServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), 300*time.Millisecond, 0)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	// Two bytes of a promised hundred, then nothing.
	if _, err := io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("reading a stalled body succeeded")
		}
		if elapsed := time.Since(start); elapsed < 250*time.Millisecond {
			t.Fatalf("body read failed after %v, before the timeout: %v", elapsed, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stalled request body held the handler past its read timeout")
	}
}

func TestResponseBodyToAClientThatDoesNotReadIsCutOff(t *testing.T) {
	writeErr := make(chan error, 1)
	srv := timeoutServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 32<<10)
		for range 4096 { // 128 MiB: far more than loopback's socket buffers
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}), 0, 300*time.Millisecond)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client never reads.
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("128 MiB were written to a client that reads nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a client that does not read held the handler past its write timeout")
	}
}

func TestBodyTimeoutsEndWithTheRequest(t *testing.T) {
	srv := timeoutServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("got "), b...))
	}), 200*time.Millisecond, 200*time.Millisecond)

	var reused []bool
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = append(reused, ci.Reused) }}
	do := func(method, body string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), method, srv.URL, strings.NewReader(body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != "got "+body {
			t.Fatalf("%s: %d %q", method, resp.StatusCode, got)
		}
	}
	do("POST", `{"a":1}`)
	// Longer than both timeouts: they must not outlive the request and
	// close the idle keep-alive connection.
	time.Sleep(500 * time.Millisecond)
	do("POST", `{"b":2}`)
	do("GET", "")
	if len(reused) != 3 || !reused[1] || !reused[2] {
		t.Fatalf("connection reuse = %v, want the first connection kept", reused)
	}
}

// The bodiless forward-auth answer arms no write deadline: nothing is
// written through exchange.Write.
func TestBodilessAnswerStartsNoBody(t *testing.T) {
	x := &exchange{ResponseWriter: httptest.NewRecorder(), writeTimeout: time.Second, req: httptest.NewRequest("GET", "/", nil)}
	x.WriteHeader(http.StatusOK)
	if x.bodyStarted {
		t.Fatal("WriteHeader alone started a body")
	}
	x.Write([]byte("x"))
	if !x.bodyStarted {
		t.Fatal("Write did not start the body")
	}
}
