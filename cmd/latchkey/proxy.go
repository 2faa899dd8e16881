package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"text/template"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/routes"
	"github.com/latchkey/latchkey/server"
)

// loadRoutes reads LATCHKEY_ROUTES; nil (every request authenticated) when
// unset. An invalid file stops the start with the file and line.
func loadRoutes(cfg *config) (*routes.Table, error) {
	if cfg.RoutesFile == "" {
		return nil, nil
	}
	t, err := routes.Load(cfg.RoutesFile)
	if err != nil {
		return nil, fmt.Errorf("LATCHKEY_ROUTES: %w", err)
	}
	return t, nil
}

// catalogRoutes adds the permissions the routes require to the catalog
// (SPEC §8), so keys can be given them once a catalog exists.
func catalogRoutes(ctx context.Context, svc *latchkey.Service, t *routes.Table) error {
	if t == nil {
		return nil
	}
	if err := svc.EnsurePermissions(ctx, t.Permissions()); err != nil {
		return fmt.Errorf("add the routes file's permissions to the catalog: %w", err)
	}
	return nil
}

// proxyListener runs the reverse proxy on LATCHKEY_PROXY_ADDR.
type proxyListener struct {
	srv *http.Server
	ln  net.Listener
	err chan error
}

// listenProxy listens on LATCHKEY_PROXY_ADDR; nil when it is unset.
func listenProxy(cfg *config, svc *latchkey.Service, table *routes.Table, tmpl *template.Template, log *slog.Logger) (*proxyListener, error) {
	if cfg.ProxyAddr == "" {
		return nil, nil
	}
	ln, err := listen(cfg.ProxyAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (LATCHKEY_PROXY_ADDR): %w", cfg.ProxyAddr, err)
	}
	h := server.NewProxy(svc, server.ProxyConfig{
		Upstream:       cfg.Upstream,
		TestUpstream:   cfg.TestUpstream,
		Routes:         table,
		RequireTenant:  cfg.RequireTenant,
		TrustedProxies: cfg.TrustedProxies,
		ErrorTemplate:  tmpl,
		Logger:         log.With("listener", "proxy"),
	})
	return &proxyListener{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			// No read or write timeout: bodies stream both ways for as long
			// as the client and upstream keep them going.
			IdleTimeout:    120 * time.Second,
			MaxHeaderBytes: 64 << 10,
			ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:  ln,
		err: make(chan error, 1),
	}, nil
}

// start serves in the background and logs the address.
func (p *proxyListener) start(log *slog.Logger, cfg *config) {
	if p == nil {
		return
	}
	go func() { p.err <- p.srv.Serve(p.ln) }()
	log.Info("proxy listening", "addr", p.ln.Addr().String(),
		"upstream", cfg.Upstream.String(), "testUpstream", cfg.TestUpstream.String())
}

// errs returns the channel that reports a failed Serve; nil (never ready)
// without a proxy.
func (p *proxyListener) errs() <-chan error {
	if p == nil {
		return nil
	}
	return p.err
}

// shutdown stops accepting and waits for in-flight proxied requests, like
// the main server.
func (p *proxyListener) shutdown(ctx context.Context, log *slog.Logger) {
	if p == nil {
		return
	}
	if err := p.srv.Shutdown(ctx); err != nil {
		log.Warn("in-flight proxied requests did not finish in time; closing their connections", "err", err)
		p.srv.Close()
	}
	if err := <-p.err; !errors.Is(err, http.ErrServerClosed) {
		log.Warn("proxy stopped with an error", "err", err)
	}
}

// close releases the listener when serve fails before the proxy starts.
func (p *proxyListener) close() {
	if p != nil {
		p.ln.Close()
	}
}
