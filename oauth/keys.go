package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/latchkey/latchkey"
)

const algorithm = "ES256"

// How often a node rereads the signing keys (to learn of a rotation done
// by another node or the CLI): for verifying, and at most how often an
// unknown kid may force a reread (random kids must not turn into database
// load); and for the JWK Set it serves.
const (
	keyRefreshInterval = 10 * time.Second
	keyForcedRefresh   = time.Second
	jwksRefresh        = time.Second
)

// jwksMaxAge is how long a verifier or an HTTP cache may keep a JWK Set
// (its Cache-Control max-age).
const jwksMaxAge = 60 * time.Second

// PublishLead is how long a new signing key is in the store before any
// node signs with it: as long as a node may serve a JWK Set read before
// (jwksRefresh) plus how long that may be cached (jwksMaxAge). A verifier
// therefore never meets a kid that the JWK Set it holds, or fetches again,
// lacks.
const PublishLead = jwksRefresh + jwksMaxAge

// publishedKey is the public half of a signing key.
type publishedKey struct {
	id        string
	key       *ecdsa.PublicKey
	retiredAt *time.Time
}

// keyring holds the signing keys: it generates, seals, rotates and looks
// them up. Public keys are cached and reread every keyRefreshInterval
// (every jwksRefresh for the JWK Set); opened private keys are cached by
// kid (a kid never changes its key).
type keyring struct {
	store  latchkey.OAuthStore
	sealer *sealer
	// retention is how long a retired key stays published and accepted:
	// it may sign for PublishLead after its retirement, and its tokens
	// live for the token lifetime plus the verification leeway.
	retention time.Duration
	now       func() time.Time // the service clock, for retention
	clock     func() time.Time // wall clock, for cache freshness

	mu         sync.Mutex
	keys       []publishedKey // newest first
	loadedAt   time.Time
	forcedAt   time.Time
	privateKey map[string]*ecdsa.PrivateKey
}

// newKeyring returns the keyring of store for tokens that live for ttl.
func newKeyring(store latchkey.OAuthStore, kek []byte, ttl time.Duration, now func() time.Time) (*keyring, error) {
	s, err := newSealer(kek)
	if err != nil {
		return nil, err
	}
	return &keyring{
		store: store, sealer: s, retention: PublishLead + ttl + Leeway, now: now, clock: time.Now,
		privateKey: map[string]*ecdsa.PrivateKey{},
	}, nil
}

// generate makes a new P-256 key whose kid is its RFC 7638 thumbprint.
func (kr *keyring) generate() (*latchkey.SigningKey, *ecdsa.PrivateKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	thumb, err := (&jose.JSONWebKey{Key: &priv.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, nil, err
	}
	kid := base64.RawURLEncoding.EncodeToString(thumb)
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := kr.sealer.seal(kid, der)
	clear(der)
	if err != nil {
		return nil, nil, err
	}
	return &latchkey.SigningKey{
		ID: kid, Algorithm: algorithm, PublicKey: pub, PrivateKey: sealed,
		CreatedAt: kr.now().UTC().Truncate(time.Microsecond),
	}, priv, nil
}

// init makes sure an active signing key exists and that it opens with the
// key-encryption key, so a wrong or lost key file fails at start-up.
func (kr *keyring) init(ctx context.Context) error {
	k, _, err := kr.generate()
	if err != nil {
		return err
	}
	active, err := kr.store.InitSigningKey(ctx, k)
	if err != nil {
		return err
	}
	if _, err := kr.open(active); err != nil {
		return fmt.Errorf("OAuth signing key %s: %w (was the key-encryption key file replaced or lost?); restore it, or start a new signing key with `latchkey signing-keys rotate`", active.ID, err)
	}
	return nil
}

// rotate makes a new key the active one, retires the previous one and
// deletes keys retired so long ago that all their tokens have expired.
// The new key is published at once and signs from PublishLead on.
func (kr *keyring) rotate(ctx context.Context) (*latchkey.SigningKey, error) {
	k, priv, err := kr.generate()
	if err != nil {
		return nil, err
	}
	if err := kr.store.RotateSigningKey(ctx, k); err != nil {
		return nil, err
	}
	if _, err := kr.store.DeleteSigningKeys(ctx, kr.now().Add(-kr.retention)); err != nil {
		return nil, err
	}
	kr.mu.Lock()
	kr.privateKey[k.ID] = priv
	kr.loadedAt = time.Time{} // reread at next use
	kr.mu.Unlock()
	return k, nil
}

// open decrypts a stored key's private half, caching it by kid.
func (kr *keyring) open(k *latchkey.SigningKey) (*ecdsa.PrivateKey, error) {
	kr.mu.Lock()
	priv := kr.privateKey[k.ID]
	kr.mu.Unlock()
	if priv != nil {
		return priv, nil
	}
	der, err := kr.sealer.open(k.ID, k.PrivateKey)
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key: %w", err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, errors.New("signing key is not a P-256 key")
	}
	kr.mu.Lock()
	kr.privateKey[k.ID] = priv
	kr.mu.Unlock()
	return priv, nil
}

// signer returns the key to sign with: the newest one published for at
// least PublishLead, or, before any is that old (a new deployment), the
// first one. The keys are read from the store at every call, so every node
// moves to a rotated key at the same moment. It also makes sure this
// node's JWK Set lists that key, whatever the clocks of the nodes say.
func (kr *keyring) signer(ctx context.Context) (string, *ecdsa.PrivateKey, error) {
	keys, err := kr.store.SigningKeys(ctx) // each key replaced the next one
	if err != nil {
		return "", nil, err
	}
	if len(keys) == 0 {
		return "", nil, errors.New("no OAuth signing key")
	}
	published := kr.now().Add(-PublishLead)
	k := keys[len(keys)-1]
	for _, c := range keys {
		if !c.CreatedAt.After(published) {
			k = c
			break
		}
	}
	priv, err := kr.open(k)
	if err != nil && k != keys[0] {
		// The key-encryption key was replaced and the key rotated since
		// (the way out of a lost one): the active key is all that opens.
		k = keys[0]
		priv, err = kr.open(k)
	}
	if err != nil {
		return "", nil, err
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if !slices.ContainsFunc(kr.keys, func(p publishedKey) bool { return p.id == k.ID }) {
		if err := kr.publish(keys); err != nil {
			return "", nil, err
		}
	}
	return k.ID, priv, nil
}

// load rereads the published keys. Caller holds mu.
func (kr *keyring) load(ctx context.Context) error {
	stored, err := kr.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	return kr.publish(stored)
}

// publish makes stored the published keys. Caller holds mu.
func (kr *keyring) publish(stored []*latchkey.SigningKey) error {
	keys := make([]publishedKey, 0, len(stored))
	for _, k := range stored {
		pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() || k.Algorithm != algorithm {
			return fmt.Errorf("signing key %s is not an ES256 key", k.ID)
		}
		keys = append(keys, publishedKey{id: k.ID, key: ec, retiredAt: k.RetiredAt})
	}
	kr.keys = keys
	kr.loadedAt = kr.clock()
	return nil
}

// published reports whether a key may still verify tokens at now.
func (kr *keyring) published(k publishedKey, now time.Time) bool {
	return k.retiredAt == nil || now.Before(k.retiredAt.Add(kr.retention))
}

// publicKey returns the key with kid if it is still published. An unknown
// kid rereads the store (at most once per keyForcedRefresh), so a key
// rotated in on another node is found. When the store cannot be read, the
// keys read before are used.
func (kr *keyring) publicKey(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	var loadErr error
	if kr.clock().Sub(kr.loadedAt) >= keyRefreshInterval {
		loadErr = kr.load(ctx)
	}
	find := func() *publishedKey {
		for i := range kr.keys {
			if kr.keys[i].id == kid {
				return &kr.keys[i]
			}
		}
		return nil
	}
	k := find()
	if k == nil && loadErr == nil && kr.clock().Sub(kr.forcedAt) >= keyForcedRefresh {
		kr.forcedAt = kr.clock()
		loadErr = kr.load(ctx)
		k = find()
	}
	switch {
	case k != nil && kr.published(*k, kr.now()):
		return k.key, nil
	case k == nil && loadErr != nil:
		return nil, unavailable(loadErr)
	}
	return nil, latchkey.ErrInvalidKey
}

// jwks returns the published keys as a JWK Set.
func (kr *keyring) jwks(ctx context.Context) (*jose.JSONWebKeySet, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.clock().Sub(kr.loadedAt) >= jwksRefresh {
		if err := kr.load(ctx); err != nil && kr.loadedAt.IsZero() {
			return nil, err
		}
	}
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	now := kr.now()
	for _, k := range kr.keys {
		if kr.published(k, now) {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.key, KeyID: k.id, Algorithm: algorithm, Use: "sig"})
		}
	}
	return set, nil
}

// unavailable wraps a store failure that must not look like a bad token.
func unavailable(err error) error {
	return &latchkey.Error{Code: latchkey.CodeUnavailable, Message: latchkey.ErrUnavailable.Message, Err: err}
}
