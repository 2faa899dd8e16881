// Package apikey implements Latchkey's key format (SPEC §4):
//
//	{prefix}_{environment}_{body}
//
// where body is 26 random base62 characters followed by a 6-character base62
// CRC-32 (IEEE) checksum of everything before it. Parsing checks format and
// checksum without any I/O, so malformed keys never reach a database.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"strings"
)

const (
	alphabet     = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	randomLen    = 26
	checksumLen  = 6
	bodyLen      = randomLen + checksumLen
	maxPrefixLen = 12
	// maskedBodyLen is how many body characters a masked key shows.
	maskedBodyLen = 8
	// MaxLen bounds the length of any well-formed key, so callers can reject
	// oversized input before doing any work.
	MaxLen = maxPrefixLen + 1 + 4 + 1 + bodyLen
)

// Environments a key can belong to.
const (
	Live = "live"
	Test = "test"
	Root = "root"
)

var isBase62 = func() (t [256]bool) {
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = true
	}
	return t
}()

// ErrMalformed is returned for any string that is not a well-formed key.
var ErrMalformed = errors.New("malformed API key")

// Key is a parsed, well-formed key.
type Key struct {
	Prefix      string
	Environment string
	Body        string
	full        string
}

// String returns the full secret key.
func (k Key) String() string { return k.full }

// Hash returns the SHA-256 of the full key: the only form in which keys are
// stored.
func (k Key) Hash() [32]byte { return Sum(k.full) }

// Sum returns the SHA-256 of s, which for a key is its Hash: a string can
// be looked up among stored keys before (or without) parsing it. It does
// not allocate for strings up to MaxLen: verification runs it on every
// request.
func Sum(s string) [32]byte {
	if len(s) > MaxLen {
		return sha256.Sum256([]byte(s))
	}
	var buf [MaxLen]byte
	return sha256.Sum256(buf[:copy(buf[:], s)])
}

// Masked returns the displayable form: prefix, environment and the first
// eight body characters followed by "...".
func (k Key) Masked() string {
	return k.Prefix + "_" + k.Environment + "_" + k.Body[:maskedBodyLen] + "..."
}

// ValidPrefix reports whether p may prefix issued keys: [a-z0-9]{1,12}.
func ValidPrefix(p string) bool {
	if len(p) == 0 || len(p) > maxPrefixLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func validEnvironment(env string) bool { return env == Live || env == Test || env == Root }

// Generate returns a new random key.
func Generate(prefix, environment string) (Key, error) {
	if !ValidPrefix(prefix) {
		return Key{}, errors.New("apikey: invalid prefix")
	}
	if !validEnvironment(environment) {
		return Key{}, errors.New("apikey: invalid environment")
	}
	var body [bodyLen]byte
	// rand.Text would be base32; draw bytes and reject the tail of the range
	// so every base62 digit is equally likely.
	var buf [64]byte
	for n := 0; n < randomLen; {
		if _, err := rand.Read(buf[:]); err != nil {
			return Key{}, err
		}
		for _, b := range buf {
			if b >= 248 { // 248 = 4*62: values above would bias the first digits
				continue
			}
			body[n] = alphabet[b%62]
			n++
			if n == randomLen {
				break
			}
		}
	}
	head := prefix + "_" + environment + "_"
	sum := checksum(head + string(body[:randomLen]))
	copy(body[randomLen:], sum[:])
	return Key{Prefix: prefix, Environment: environment, Body: string(body[:]), full: head + string(body[:])}, nil
}

// Parse checks format and checksum. It touches nothing but s.
func Parse(s string) (Key, error) {
	if len(s) > MaxLen {
		return Key{}, ErrMalformed
	}
	i := strings.IndexByte(s, '_')
	if i < 0 || !ValidPrefix(s[:i]) {
		return Key{}, ErrMalformed
	}
	rest := s[i+1:]
	j := strings.IndexByte(rest, '_')
	if j < 0 || !validEnvironment(rest[:j]) {
		return Key{}, ErrMalformed
	}
	body := rest[j+1:]
	if len(body) != bodyLen {
		return Key{}, ErrMalformed
	}
	for k := 0; k < len(body); k++ {
		if !isBase62[body[k]] {
			return Key{}, ErrMalformed
		}
	}
	want := checksum(s[:len(s)-checksumLen])
	if string(want[:]) != body[randomLen:] {
		return Key{}, ErrMalformed
	}
	return Key{Prefix: s[:i], Environment: rest[:j], Body: body, full: s}, nil
}

var crcTable = crc32.MakeTable(crc32.IEEE)

// checksum is the base62 CRC-32 (IEEE) of data, most significant digit
// first, left-padded with '0' to six digits. The CRC is computed bytewise
// here rather than by crc32.ChecksumIEEE, whose []byte argument would make
// every Parse allocate; keys are short, so the table loop costs nothing.
func checksum(data string) [checksumLen]byte {
	v := ^uint32(0)
	for i := 0; i < len(data); i++ {
		v = crcTable[byte(v)^data[i]] ^ v>>8
	}
	v = ^v
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return out
}
