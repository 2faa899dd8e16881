package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KeySize is the size of a key-encryption key.
const KeySize = 32

// LoadOrCreateKeyFile returns the key-encryption key stored in path (64 hex
// digits), first creating the file with a random key, readable by its
// owner only, when it does not exist. Signing keys are sealed with this
// key, so the database alone (a dump, a backup, a stolen file) never holds
// a usable private key.
//
// Several processes may call it at once on a fresh path: the file is
// written aside and linked into place, so all of them read the same key.
// A file that others may read is refused rather than trusted.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	fresh := make([]byte, KeySize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("create key-encryption key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.WriteString(hex.EncodeToString(fresh) + "\n"); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	// Link, unlike rename, fails when path exists: a concurrent creator's
	// key is never replaced.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create key-encryption key file: %w", err)
	}
	return readKeyFile(path)
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key-encryption key file %s is readable by others (mode %v); run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	buf := make([]byte, 2*KeySize+2)
	n, _ := f.Read(buf)
	key, err := hex.DecodeString(strings.TrimSpace(string(buf[:n])))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("key-encryption key file %s must hold %d hex digits", path, 2*KeySize)
	}
	return key, nil
}

// sealer encrypts signing keys' private halves with AES-256-GCM under a
// key derived from the key-encryption key. The key ID is bound as
// additional data, so a sealed key copied onto another row does not open.
type sealer struct {
	aead cipher.AEAD
}

// sealVersion prefixes every sealed value, so the scheme can change.
const sealVersion = 1

func newSealer(kek []byte) (*sealer, error) {
	if len(kek) != KeySize {
		return nil, fmt.Errorf("oauth: key-encryption key must be %d bytes, got %d", KeySize, len(kek))
	}
	k, err := hkdf.Key(sha256.New, kek, nil, "latchkey oauth signing key encryption v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(kid string, plaintext []byte) ([]byte, error) {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return s.aead.Seal(out, out[1:], plaintext, []byte(kid)), nil
}

var errCannotOpen = errors.New("the signing key cannot be decrypted with this key-encryption key")

func (s *sealer) open(kid string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return nil, errCannotOpen
	}
	out, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(kid))
	if err != nil {
		return nil, errCannotOpen
	}
	return out, nil
}
