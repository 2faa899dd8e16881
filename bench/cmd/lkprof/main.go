// Command lkprof serves Latchkey's handlers wired as `latchkey serve` wires
// them (JSON request log to stderr, usage counter flushed every 500 ms),
// plus net/http/pprof on its own address, so the hot paths can be profiled
// under load:
//
//	lkprof -db lk.db -addr 127.0.0.1:8080 -proxy-addr 127.0.0.1:8081 \
//	  -upstream http://127.0.0.1:9000 -pprof 127.0.0.1:6060 2>/dev/null &
//	wrk -d30s -H "Authorization: Bearer $KEY" http://127.0.0.1:8081/ &
//	go tool pprof -top http://127.0.0.1:6060/debug/pprof/profile?seconds=10
//
// It is a profiling aid only; the benchmark itself runs the real binary.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"net/url"
	"os"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/sqlite"
)

func main() {
	dbPath := flag.String("db", "", "SQLite database")
	addr := flag.String("addr", "127.0.0.1:8080", "management API and /auth/check")
	proxyAddr := flag.String("proxy-addr", "127.0.0.1:8081", "reverse proxy")
	upstream := flag.String("upstream", "", "proxy upstream URL")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "pprof address")
	prefix := flag.String("key-prefix", "lk", "key prefix")
	var level slog.Level
	flag.TextVar(&level, "log-level", slog.LevelInfo, "request log level (INFO logs every request, as serve does)")
	flag.Parse()

	store, err := sqlite.Open(*dbPath)
	if err != nil {
		log.Fatal(err)
	}
	up, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	svc := latchkey.NewService(store, latchkey.ServiceConfig{KeyPrefix: *prefix})
	go svc.Usage().Run(context.Background(), 500*time.Millisecond, func(err error) { logger.Error("flush", "err", err) })

	go func() { log.Fatal(http.ListenAndServe(*pprofAddr, nil)) }()
	go func() {
		h := server.NewProxy(svc, server.ProxyConfig{Upstream: up, Logger: logger.With("listener", "proxy")})
		log.Fatal((&http.Server{Addr: *proxyAddr, Handler: h, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe())
	}()
	h := server.New(svc, server.Config{Logger: logger})
	log.Fatal((&http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe())
}
