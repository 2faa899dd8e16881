// Command benchserver is the baseline of the load benchmark (bench/load.sh):
// a bare net/http handler, or a default httputil.ReverseProxy in front of
// one, so Latchkey's numbers can be read against what plain Go does on the
// same machine.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
)

func main() {
	mode := flag.String("mode", "ok", "ok: answer 200 \"ok\"; headers: answer 200 with the headers of a successful /auth/check and no logic; proxy: a default httputil.ReverseProxy to -upstream")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	upstream := flag.String("upstream", "", "upstream URL (proxy mode)")
	flag.Parse()

	var h http.Handler
	switch *mode {
	case "ok":
		body := []byte("ok")
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		})
	case "headers":
		// The response a successful /auth/check gives (SPEC §5, §7):
		// X-Trace-Id on every response, the five identity headers, and
		// Cache-Control: no-store. The ceiling of b/a: what writing them
		// costs, with no work at all. The values are shared, as Latchkey
		// shares what it can, so that h allocates no more than b.
		traceID, noStore := []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, []string{"no-store"}
		keyID, ownerID, tenantID := []string{"key_abcdefghijklmnopqrstuvwx"}, []string{"user-123"}, []string{"123"}
		env, perms := []string{"live"}, []string{"messages:send"}
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hd := w.Header()
			hd["X-Trace-Id"] = traceID
			hd["Cache-Control"] = noStore
			hd["X-Latchkey-Key-Id"] = keyID
			hd["X-Latchkey-Owner-Id"] = ownerID
			hd["X-Latchkey-Tenant-Id"] = tenantID
			hd["X-Latchkey-Environment"] = env
			hd["X-Latchkey-Permissions"] = perms
			w.WriteHeader(http.StatusOK)
		})
	case "proxy":
		u, err := url.Parse(*upstream)
		if err != nil || u.Host == "" {
			log.Fatalf("benchserver: -upstream must be an absolute URL, got %q", *upstream)
		}
		// Deliberately untuned: this is the baseline a Go developer gets.
		h = httputil.NewSingleHostReverseProxy(u)
	default:
		log.Fatalf("benchserver: unknown -mode %q (ok, headers or proxy)", *mode)
	}
	log.Fatal(http.ListenAndServe(*addr, h))
}
