package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

// Cross-node cache invalidation. Each mutation that changes what a cached
// credential means runs pg_notify(channel, payload) in its own transaction:
// PostgreSQL delivers the notification to every listener exactly when the
// transaction commits, and never if it rolls back. The payload is a key ID,
// or changedAll when the change is not about one key (tenants, root keys).
const (
	channel    = "latchkey_changes"
	changedAll = "*"
)

func notify(ctx context.Context, tx pgx.Tx, payload string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
	return err
}

// Listener timing. A connection that is silent for listenPing is pinged, so
// a dead peer (a network partition drops no packet that would say so) is
// found within listenPing + listenPingTimeout, after which the node trusts
// its cache only for its outage grace (latchkey.DefaultOutageGrace).
var (
	listenPing        = 10 * time.Second
	listenPingTimeout = 2 * time.Second
	minBackoff        = 100 * time.Millisecond
	maxBackoff        = 2 * time.Second
)

// WatchChanges listens for the changes committed by every node, this one
// included, on a dedicated connection (a LISTEN holds its connection for
// good, so it never comes from the pool). It reports connected(true) once
// listening, and connected(false) as soon as the connection fails, then
// reconnects with a backoff from 100ms to 2s. It returns nil when ctx is
// done.
func (db *DB) WatchChanges(ctx context.Context, changes func(latchkey.Change), connected func(bool)) error {
	backoff := minBackoff
	for {
		err := db.listen1(ctx, changes, func() {
			connected(true)
			backoff = minBackoff
		})
		if ctx.Err() != nil {
			return nil
		}
		_ = err // the cause shows in readiness (Ping) and the store's own errors
		connected(false)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen1 runs one listening connection until it fails or ctx is done.
func (db *DB) listen1(ctx context.Context, changes func(latchkey.Change), up func()) error {
	conn, err := pgx.ConnectConfig(ctx, db.listen)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+channel); err != nil {
		return err
	}
	up()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if n.Payload == changedAll {
				changes(latchkey.Change{All: true})
			} else {
				changes(latchkey.Change{KeyID: n.Payload})
			}
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() == nil:
			return err // the connection failed
		}
		// Silence: make sure the server is still there. The timeout left
		// the connection usable (pgx only sets a read deadline).
		pctx, cancel := context.WithTimeout(ctx, listenPingTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}
