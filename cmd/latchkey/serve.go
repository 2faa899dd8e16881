package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/dashboard"
	"github.com/latchkey/latchkey/deadline"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/server"
)

// Shutdown budget: in-flight requests get shutdownGrace to finish, then
// the usage counters get flushGrace to reach the database.
const (
	shutdownGrace = 20 * time.Second
	flushGrace    = 10 * time.Second
	flushInterval = 500 * time.Millisecond
)

// auditPruneInterval is how often audit events past their retention are
// deleted (and once at start).
const auditPruneInterval = time.Hour

func runServe(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) (err error) {
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	cfg, err := loadConfig(c.flags, c.getenv)
	if err != nil {
		return err
	}
	var tmpl *template.Template
	if cfg.ErrorTemplate != "" {
		if tmpl, err = server.ParseErrorTemplate(cfg.ErrorTemplate); err != nil {
			return fmt.Errorf("LATCHKEY_ERROR_TEMPLATE: %w", err)
		}
	}
	table, err := loadRoutes(cfg)
	if err != nil {
		return err
	}

	log := slog.New(slog.NewJSONHandler(c.stderr, nil))
	defer tuneGC(c.getenv)()
	for _, env := range cfg.Inactive {
		// The value is not logged: some (Redis URL) hold credentials.
		log.Warn("setting is not implemented in this version and is ignored", "setting", env)
	}

	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	mtr := metrics.New()
	limiter, closeLimiter, err := openLimiter(ctx, cfg, mtr, log)
	if err != nil {
		return err
	}
	defer closeLimiter()
	svc := latchkey.NewService(store, latchkey.ServiceConfig{
		KeyPrefix: cfg.KeyPrefix,
		Limiter:   limiter,
		Limits:    cfg.Limits,
		OnVerify:  mtr.Verified,

		AuditRetention: cfg.AuditRetention,
	})
	mtr.CacheSize(svc.CacheStats)

	// Work on the store in the background, stopped before it closes: the
	// cache follows changes other processes commit (other nodes, the CLI),
	// and audit events past LATCHKEY_AUDIT_RETENTION are deleted.
	bgCtx, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	background.Go(func() { svc.WatchChanges(bgCtx) })
	background.Go(func() {
		svc.RunAuditRetention(bgCtx, auditPruneInterval, func(err error) {
			log.Error("delete audit events past their retention", "err", err)
		})
	})
	defer func() { stopBackground(); background.Wait() }()

	// Listen before bootstrapping: if the port is taken, nothing is created
	// whose one-time secrets would be lost.
	ln, err := listen(cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close() // a no-op once Shutdown has closed it
	oauthSrv, err := newOAuthServer(ctx, cfg, svc, store, ln, log)
	if err != nil {
		return err
	}
	prx, err := listenProxy(cfg, svc, table, tmpl, log)
	if err != nil {
		return err
	}
	defer prx.close()

	boot, err := svc.BootstrapIfEmpty(ctx, cfg.RootKey)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if boot != nil {
		printBootstrap(c.stderr, boot)
	}
	if err := catalogRoutes(ctx, svc, table); err != nil {
		return err
	}

	dash, err := dashboard.New(svc, dashboard.Config{TrustedProxies: cfg.TrustedProxies, Logger: log})
	if err != nil {
		return err
	}
	var draining atomic.Bool
	handler := server.New(svc, server.Config{
		OAuth:           oauthSrv,
		Dashboard:       dash,
		ErrorTemplate:   tmpl,
		TrustUserHeader: cfg.TrustUserHeader,
		TrustedProxies:  cfg.TrustedProxies,
		RequireTenant:   cfg.RequireTenant,
		Routes:          table,
		Logger:          log,
		Metrics:         mtr,
		// What http.Server's ReadTimeout and WriteTimeout bounded before.
		BodyReadTimeout:  30 * time.Second,
		BodyWriteTimeout: 60 * time.Second,
		Ready: func(ctx context.Context) error {
			if draining.Load() {
				return latchkey.ErrUnavailable
			}
			return store.Ping(ctx)
		},
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Bodies are bounded per request by the handler (BodyReadTimeout,
		// BodyWriteTimeout below), not here: ReadTimeout and WriteTimeout
		// would arm two more timers on every bodiless forward-auth check.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// The usage counter runs until the server has stopped, so requests that
	// finish during shutdown are still counted, then flushes once more.
	usageCtx, stopUsage := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		svc.Usage().Run(usageCtx, flushInterval, func(err error) {
			mtr.UsageFlushFailed()
			log.Error("flush usage counters", "err", err)
		})
	})
	defer func() {
		stopUsage()
		wg.Wait()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushGrace)
		defer cancel()
		if ferr := svc.Usage().Flush(fctx); ferr != nil {
			log.Error("final flush of usage counters failed; recent request counts are lost", "err", ferr)
			if err == nil {
				err = fmt.Errorf("flush usage counters: %w", ferr)
			}
		}
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "version", versionString(),
		"database", cfg.Database.String(), "keyPrefix", cfg.KeyPrefix)
	prx.start(log, cfg)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case err := <-prx.errs():
		return fmt.Errorf("proxy: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down: finishing in-flight requests", "timeout", shutdownGrace.String())
	draining.Store(true)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	var proxyDone sync.WaitGroup
	proxyDone.Go(func() { prx.shutdown(sctx, log) })
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("in-flight requests did not finish in time; closing their connections", "err", err)
		srv.Close()
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		log.Warn("server stopped with an error", "err", err)
	}
	proxyDone.Wait()
	log.Info("stopped")
	return nil
}

// printBootstrap shows the first start's secrets once, on stderr, outside
// the structured log so that no log line ever carries a secret.
func printBootstrap(w io.Writer, b *latchkey.Bootstrap) {
	const rule = "================================================================================"
	fmt.Fprintln(w, rule)
	fmt.Fprintln(w, "Latchkey first start. Save these now: they are shown only this once.")
	fmt.Fprintln(w)
	if b.RootKey != "" {
		fmt.Fprintf(w, "  Root key (scope *):  %s\n", b.RootKey)
	} else {
		fmt.Fprintln(w, "  Root key:            the one in LATCHKEY_ROOT_KEY")
	}
	fmt.Fprintln(w, "  Admin dashboard login:")
	fmt.Fprintf(w, "    email:             %s\n", b.AdminEmail)
	fmt.Fprintf(w, "    password:          %s\n", b.AdminPassword)
	fmt.Fprintln(w, rule)
}

// listen listens on addr for an http.Server whose read deadlines (the
// header and idle timeouts) cost no runtime timer per request: each is
// enforced by a sweep, at most deadlineTick late (package deadline).
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return deadline.NewListener(ln, deadlineTick), nil
}

// deadlineTick is how late a connection's header, idle or body read
// timeout may be enforced: 1 % of the 10 s header timeout.
const deadlineTick = 100 * time.Millisecond
