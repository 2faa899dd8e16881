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
	mode := flag.String("mode", "ok", "ok: answer 200 \"ok\"; proxy: a default httputil.ReverseProxy to -upstream")
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
	case "proxy":
		u, err := url.Parse(*upstream)
		if err != nil || u.Host == "" {
			log.Fatalf("benchserver: -upstream must be an absolute URL, got %q", *upstream)
		}
		// Deliberately untuned: this is the baseline a Go developer gets.
		h = httputil.NewSingleHostReverseProxy(u)
	default:
		log.Fatalf("benchserver: unknown -mode %q (ok or proxy)", *mode)
	}
	log.Fatal(http.ListenAndServe(*addr, h))
}
