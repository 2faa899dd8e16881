package postgres_test

import (
	"context"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/storetest"
)

// open opens the store in the database at url, closed when t ends.
func open(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// migrated is a database with the schema applied, which each test of the
// suite copies (faster than migrating each time).
var migrated string

func TestMain(m *testing.M) {
	name, drop, err := pgtest.NewTemplate(func(url string) error {
		db, err := postgres.Open(context.Background(), url)
		if err != nil {
			return err
		}
		return db.Close()
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "prepare the template database:", err)
		os.Exit(1)
	}
	migrated = name
	code := m.Run()
	drop()
	os.Exit(code)
}

// TestStore runs the conformance suite SQLite passes, each subtest in a
// database of its own. Those run in parallel: each mostly waits for the
// server (creating and dropping its database).
func TestStore(t *testing.T) {
	pgtest.Require(t)
	var parallel sync.Map // *testing.T → struct{}: t.Parallel once per test
	storetest.Run(t, func(t *testing.T) latchkey.Store {
		if _, done := parallel.LoadOrStore(t, struct{}{}); !done {
			t.Parallel()
		}
		return open(t, pgtest.NewDatabaseFrom(t, migrated))
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	url := pgtest.NewDatabase(t)
	db := open(t, url)
	if err := db.CreateTenant(t.Context(), &latchkey.Tenant{ID: "t1", Name: "Acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	again := open(t, url)
	if _, err := again.Tenant(t.Context(), "t1"); err != nil {
		t.Fatalf("tenant after opening again: %v", err)
	}
}

// TestNodesMigrateAtOnce starts several nodes on an empty database at the
// same moment: the advisory lock lets exactly one apply each migration.
func TestNodesMigrateAtOnce(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const nodes = 6
	var wg sync.WaitGroup
	dbs := make([]*postgres.DB, nodes)
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: Open: %v", i, err)
			continue
		}
		dbs[i].Close()
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var applied, distinct int
	if err := conn.QueryRow(t.Context(),
		`SELECT count(*), count(DISTINCT name) FROM schema_migrations`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied == 0 || applied != distinct {
		t.Fatalf("schema_migrations holds %d rows for %d migrations", applied, distinct)
	}
}

func TestOpenDoesNotEchoPassword(t *testing.T) {
	for _, url := range []string{
		"postgres://latchkey:hunter22@127.0.0.1:1/latchkey?sslmode=disable&connect_timeout=1", // refused
		"postgres://latchkey:hunter22@127.0.0.1:notaport/latchkey",                            // does not parse
	} {
		_, err := postgres.Open(t.Context(), url)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", url)
		}
		if strings.Contains(err.Error(), "hunter22") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}

// TestOpenFailsFast: a server that accepts the connection but never
// answers (hung, or a half-open path) is an error within the connect
// timeout, not a hang.
func TestOpenFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the kernel accepts; nobody answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	_, err = postgres.Open(t.Context(), "postgres://u@"+ln.Addr().String()+"/db?sslmode=disable")
	if err == nil {
		t.Fatal("Open of a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open of a silent server took %v, want about the 2s connect timeout", d)
	}
	t.Logf("Open of a silent server failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

// TestChangeFeed runs the change feed suite SQLite passes, with two
// handles on one database standing for two nodes.
func TestChangeFeed(t *testing.T) {
	pgtest.Require(t)
	storetest.RunChangeFeed(t, func(t *testing.T) (latchkey.Store, latchkey.Store) {
		url := pgtest.NewDatabaseFrom(t, migrated)
		return open(t, url), open(t, url)
	})
}

// TestWatcherReconnects kills the listening connection on the server: the
// watcher reports the loss, reconnects by itself and reports changes again.
func TestWatcherReconnects(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := open(t, url)
	w := storetest.Watch(t, a)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var killed int
	if err := conn.QueryRow(t.Context(), `
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d listening connections, want 1", killed)
	}
	w.WaitFor(t, "the loss to be reported", func() bool { return w.Downs() > 0 })
	w.WaitFor(t, "the watcher to reconnect", func() bool { return w.Ups() > 1 })

	if err := a.CreateUser(t.Context(), &latchkey.User{ID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateRootKey(t.Context(), &latchkey.RootKey{ID: "rk1", Hash: [32]byte{1}}); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteRootKey(t.Context(), "rk1"); err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, "a change after reconnecting", func() bool { return len(w.Changes()) > 0 })
}

// TestWatcherNoticesASilentServer: a network path that silently stops
// delivering (no reset, no FIN) must not leave the watcher listening to
// nothing. Its connection runs through a loopback proxy that the test
// freezes; the liveness ping finds out and the watcher reports the loss.
func TestWatcherNoticesASilentServer(t *testing.T) {
	postgres.SetListenTimings(t, 200*time.Millisecond, 300*time.Millisecond)
	url := pgtest.NewDatabaseFrom(t, migrated)
	proxy := newFreezableProxy(t, url)
	db := open(t, proxy.url)
	w := storetest.Watch(t, db)
	time.Sleep(time.Second) // several pings pass while the path is healthy
	w.WaitFor(t, "no loss while healthy", func() bool { return w.Downs() == 0 })

	proxy.freeze()
	start := time.Now()
	w.WaitFor(t, "the loss to be reported", func() bool { return w.Downs() > 0 })
	t.Logf("silent server noticed after %v", time.Since(start).Round(time.Millisecond))
	proxy.thaw()
	w.WaitFor(t, "the watcher to reconnect", func() bool { return w.Ups() > 1 })
}

// freezableProxy forwards TCP connections to the database server until
// frozen; frozen, it holds every connection open and delivers nothing.
type freezableProxy struct {
	url    string
	mu     sync.Mutex
	frozen bool
	cond   *sync.Cond
}

func newFreezableProxy(t *testing.T, dbURL string) *freezableProxy {
	t.Helper()
	u, err := neturl.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u.Host = ln.Addr().String()
	p := &freezableProxy{url: u.String()}
	p.cond = sync.NewCond(&p.mu)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(t, c, target)
		}
	}()
	return p
}

func (p *freezableProxy) serve(t *testing.T, c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			for p.frozen {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done
}

func (p *freezableProxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

func (p *freezableProxy) thaw() {
	p.mu.Lock()
	p.frozen = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

func TestExpiriesRoundedByMigration(t *testing.T) {
	pgtest.Require(t)
	db := open(t, pgtest.NewDatabaseFrom(t, migrated))
	storetest.ExpiriesRoundedByMigration(t, db, func() {
		postgres.Unmigrate(t, db, "0003_whole_second_expiries.sql")
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}
