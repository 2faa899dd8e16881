package oauth

import (
	"crypto/ecdsa"
	"crypto/x509"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// ActiveKey returns the active signing key's kid and private key, so tests
// can forge tokens with the real key and look for it in the database file.
func ActiveKey(t testing.TB, s *Server) (string, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	kid, priv, err := s.keys.signer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return kid, priv, der
}

// Sign signs claims with key under the given header fields (alg ES256
// unless key is not ECDSA).
func Sign(t testing.TB, key any, alg jose.SignatureAlgorithm, header map[jose.HeaderKey]any, claims []byte) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range header {
		opts.WithHeader(k, v)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sig.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SetKeyCacheClock replaces the wall clock of the signing key cache.
func SetKeyCacheClock(s *Server, clock func() time.Time) { s.keys.clock = clock }
