//go:build pprof

package main

// Built with -tags pprof (bench/profile.sh), serve also answers
// net/http/pprof on LATCHKEY_PPROF_ADDR, so the real binary, wired exactly
// as it runs, can be profiled under load. Release builds have none of it.

import (
	"log"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
)

func init() {
	addr := os.Getenv("LATCHKEY_PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() { log.Print(http.ListenAndServe(addr, nil)) }()
}
