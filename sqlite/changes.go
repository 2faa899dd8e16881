package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/latchkey/latchkey"
)

var _ latchkey.ChangeWatcher = (*DB)(nil)

// Several processes may share one database file: `latchkey serve` and the
// CLI revoking a key beside it. Each mutation that could change what a
// cached credential means appends to the changes table in its own
// transaction; WatchChanges polls the table, so a server's cache follows
// what any process commits within about one poll interval.
const (
	changedAll      = "*"                    // key_id of a change not about one key
	pollInterval    = 100 * time.Millisecond // staleness bound of a cache beside another writer
	changeRetention = 10 * time.Minute       // rows older than this are pruned
	pruneInterval   = time.Minute
)

// recordChange appends a change to the feed; it is seen by watchers only
// if tx commits.
func recordChange(ctx context.Context, tx *sql.Tx, keyID string) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO changes (key_id, created_at) VALUES (?, ?)`, keyID, time.Now().UnixMicro())
	return err
}

// recordKeyChanges appends a change for each key the query (selecting key
// IDs, with args) returns.
func recordKeyChanges(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO changes (key_id, created_at) SELECT id, ? FROM (`+query+`)`,
		append([]any{time.Now().UnixMicro()}, args...)...)
	return err
}

// WatchChanges reports the changes committed to the database file by any
// process, this one included, from the moment it is called: it polls the
// feed every 100ms on the read pool and reports connected(true) once
// started. A failed poll reports connected(false) until one succeeds again.
// Now and then it prunes rows older than 10 minutes. It returns nil when
// ctx is done.
func (db *DB) WatchChanges(ctx context.Context, changes func(latchkey.Change), connected func(bool)) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	wait := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-ticker.C:
			return true
		}
	}

	var last int64
	for {
		err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM changes`).Scan(&last)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		connected(false)
		if !wait() {
			return nil
		}
	}
	connected(true)

	up := true
	lastPoll, lastPrune := time.Now(), time.Time{}
	for wait() {
		now := time.Now()
		if now.Sub(lastPoll) > changeRetention/2 {
			// This process was suspended long enough for rows it has not
			// seen to be pruned: assume everything changed.
			changes(latchkey.Change{All: true})
		}
		if err := db.pollChanges(ctx, &last, changes); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if up {
				connected(false)
				up = false
			}
			continue
		}
		if !up {
			connected(true)
			up = true
		}
		lastPoll = now
		if now.Sub(lastPrune) >= pruneInterval {
			lastPrune = now
			// A failed prune is retried at the next interval; the feed
			// itself is unaffected.
			db.write.ExecContext(ctx, `DELETE FROM changes WHERE created_at < ?`,
				now.Add(-changeRetention).UnixMicro())
		}
	}
	return nil
}

// pollChanges reports the rows after *last and moves *last past them. One
// writer at a time means seqs commit in order: none can appear later
// below *last.
func (db *DB) pollChanges(ctx context.Context, last *int64, changes func(latchkey.Change)) error {
	rows, err := db.read.QueryContext(ctx,
		`SELECT seq, key_id FROM changes WHERE seq > ? ORDER BY seq`, *last)
	if err != nil {
		return err
	}
	defer rows.Close()
	var batch []latchkey.Change
	seq := *last
	for rows.Next() {
		var keyID string
		if err := rows.Scan(&seq, &keyID); err != nil {
			return err
		}
		if keyID == changedAll {
			batch = append(batch, latchkey.Change{All: true})
		} else {
			batch = append(batch, latchkey.Change{KeyID: keyID})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	*last = seq
	for _, c := range batch {
		changes(c)
	}
	return nil
}
