package latchkey_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
)

// feedStore is a real SQLite store whose change feed the test drives by
// hand: the stand-in for a database connection that drops, which cannot
// be caused on demand here (the PostgreSQL watcher is tested for real).
type feedStore struct {
	latchkey.Store
	mu        sync.Mutex
	changes   func(latchkey.Change)
	connected func(bool)
	ready     chan struct{}
}

func (f *feedStore) WatchChanges(ctx context.Context, changes func(latchkey.Change), connected func(bool)) error {
	f.mu.Lock()
	f.changes, f.connected = changes, connected
	f.mu.Unlock()
	close(f.ready)
	<-ctx.Done()
	return nil
}

func TestWatchChangesInvalidatesAndBoundsStaleness(t *testing.T) {
	_, db, c := newService(t)
	fs := &feedStore{Store: db, ready: make(chan struct{})}
	svc := latchkey.NewService(fs, latchkey.ServiceConfig{KeyPrefix: "tb", Now: c.Now, OutageGrace: 30 * time.Second})
	mustUser(t, svc, "u")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.WatchChanges(ctx)
	<-fs.ready
	fs.connected(true)

	k, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateKey(ctx, secret); err != nil {
		t.Fatal(err)
	}
	// Another node revokes the key: this node hears of it through the feed.
	other := latchkey.NewService(db, latchkey.ServiceConfig{Now: c.Now})
	if _, err := other.RevokeKey(ctx, "", k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateKey(ctx, secret); err != nil {
		t.Fatalf("before the change arrives the cached key still answers: %v", err)
	}
	fs.changes(latchkey.Change{KeyID: k.ID})
	_, err = svc.AuthenticateKey(ctx, secret)
	wantCode(t, err, latchkey.CodeKeyRevoked)

	// The feed drops; the database is down too. Cached keys answer within
	// the grace, unknown keys are UNAVAILABLE, and past the grace cached
	// keys are refused too.
	_, live, _ := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "live"})
	if _, err := svc.AuthenticateKey(ctx, live); err != nil {
		t.Fatal(err)
	}
	fs.connected(false)
	db.Close()
	c.Advance(29 * time.Second)
	if _, err := svc.AuthenticateKey(ctx, live); err != nil {
		t.Fatalf("cached key within the outage grace: %v", err)
	}
	unknown, _ := apikey.Generate("tb", "live")
	_, err = svc.AuthenticateKey(ctx, unknown.String())
	wantCode(t, err, latchkey.CodeUnavailable)
	c.Advance(2 * time.Second)
	_, err = svc.AuthenticateKey(ctx, live)
	wantCode(t, err, latchkey.CodeUnavailable)
}
