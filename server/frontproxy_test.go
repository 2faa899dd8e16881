package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"text/template"
	"time"
)

// Helpers for the tests that run a real reverse proxy (nginx, Caddy) in
// front of Latchkey with its documented configuration.

// requiredBinary finds name on PATH or at one of paths. Without it the
// test skips, except under CI=true, where scripts/test-deps.sh must have
// installed it and the test fails.
func requiredBinary(t *testing.T, name string, paths ...string) string {
	t.Helper()
	if bin, err := exec.LookPath(name); err == nil {
		return bin
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; scripts/test-deps.sh installs it", name)
	}
	t.Skipf("%s is not installed; run scripts/test-deps.sh", name)
	return ""
}

// freeLoopbackAddr returns a 127.0.0.1 address nothing listens on.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeConfig renders a configuration template to path.
func writeConfig(t *testing.T, path, tmpl string, data any) {
	t.Helper()
	var conf bytes.Buffer
	if err := template.Must(template.New(path).Parse(tmpl)).Execute(&conf, data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startFrontProxy starts cmd and returns the URL of listen once it
// accepts connections. At cleanup the process (this one only) gets stop,
// then a kill after 10 s; its output is logged when the test failed.
func startFrontProxy(t *testing.T, cmd *exec.Cmd, listen string, stop os.Signal) string {
	t.Helper()
	name := cmd.Path
	var output syncBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed, not sent on: both the start-up loop and the
	// cleanup wait for it, and a value read by one would hang the other.
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, output.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("%s exited: %v\n%s", name, waitErr, output.String())
		default:
		}
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			return "http://" + listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s\n%s", name, listen, output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recordingAPI is the company's API behind the proxy: it answers JSON and
// keeps every request it received.
type recordingAPI struct {
	*httptest.Server
	mu  sync.Mutex
	got []*http.Request
}

func newRecordingAPI(t *testing.T) *recordingAPI {
	a := &recordingAPI{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.got = append(a.got, r.Clone(r.Context()))
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"upstream": "api", "path": r.URL.Path})
	}))
	t.Cleanup(a.Close)
	return a
}

// last is the latest request the API received, nil for none.
func (a *recordingAPI) last() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.got) == 0 {
		return nil
	}
	return a.got[len(a.got)-1]
}

func (a *recordingAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got)
}

// sendVia sends a request to the front proxy, headers given as name,
// value pairs (repeats allowed), and does not follow redirects.
func sendVia(t *testing.T, front, method, path string, body io.Reader, headers ...string) response {
	t.Helper()
	req, _ := http.NewRequest(method, front+path, body)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}
