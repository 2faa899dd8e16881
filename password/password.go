// Package password hashes and checks dashboard passwords with argon2id,
// stored as PHC strings ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Parameters follow the OWASP recommendation for argon2id (19 MiB, t=2, p=1).
const (
	memoryKiB = 19 * 1024
	passes    = 2
	threads   = 1
	saltLen   = 16
	hashLen   = 32
	// MinLen and MaxLen bound accepted passwords; the upper bound keeps a
	// hostile request from making the hash expensive.
	MinLen = 8
	MaxLen = 256
)

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of pw.
func Hash(pw string) (string, error) {
	if len(pw) < MinLen || len(pw) > MaxLen {
		return "", fmt.Errorf("password must be %d to %d characters", MinLen, MaxLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(pw), salt, passes, memoryKiB, threads, hashLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, memoryKiB, passes, threads, b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

var errFormat = errors.New("password: unrecognised hash format")

// Check reports whether pw matches the PHC string encoded, in constant time.
func Check(encoded, pw string) (bool, error) {
	if len(pw) > MaxLen {
		return false, nil
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errFormat
	}
	var version int
	var mem uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errFormat
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return false, errFormat
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errFormat
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, errFormat
	}
	got := argon2.IDKey([]byte(pw), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
