// Command seed fills a Latchkey SQLite database with many API keys, fast,
// so the load benchmark can compare verification with 1 key and with
// 1,000,000 keys in the store (bench/load.sh, KEYS=…). It prints the number
// of keys the store then holds.
//
//	go run ./bench/cmd/seed -db latchkey.db -user bench -n 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/latchkey/latchkey/bench"
)

func main() {
	var s bench.Seed
	flag.StringVar(&s.Path, "db", "", "SQLite database file (created and migrated if needed)")
	flag.IntVar(&s.N, "n", 1_000_000, "number of keys to insert")
	flag.StringVar(&s.Owner, "user", "", "owner of the keys: an existing user ID (required)")
	flag.StringVar(&s.Tenant, "tenant", "", "link every key to this existing tenant (optional)")
	flag.StringVar(&s.Prefix, "prefix", "lk", "key prefix")
	flag.Parse()
	if s.Path == "" || s.Owner == "" {
		flag.Usage()
		fmt.Fprintln(os.Stderr, "seed: -db and -user are required")
		os.Exit(2)
	}
	start := time.Now()
	total, err := s.Run(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "seed: inserted %d keys in %s\n", s.N, time.Since(start).Round(time.Millisecond))
	fmt.Println(total)
}
