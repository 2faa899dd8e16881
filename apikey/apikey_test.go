package apikey

import (
	"crypto/sha256"
	"hash/crc32"
	"regexp"
	"strings"
	"testing"
)

var scannerRegexp = regexp.MustCompile(`\b[a-z0-9]{1,12}_(live|test|root)_[0-9A-Za-z]{32}\b`)

func TestGenerateParseRoundTrip(t *testing.T) {
	for _, env := range []string{Live, Test, Root} {
		k, err := Generate("tb", env)
		if err != nil {
			t.Fatal(err)
		}
		s := k.String()
		if !scannerRegexp.MatchString(s) {
			t.Fatalf("%q does not match the secret-scanner regexp", s)
		}
		got, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if got != k {
			t.Fatalf("Parse(%q) = %+v, want %+v", s, got, k)
		}
		if got, want := k.Masked(), s[:len("tb_")+len(env)+1+8]+"..."; got != want {
			t.Fatalf("Masked() = %q, want %q", got, want)
		}
	}
}

func TestGenerateIsRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		k, err := Generate("lk", Live)
		if err != nil {
			t.Fatal(err)
		}
		if seen[k.Body] {
			t.Fatalf("duplicate key body %q", k.Body)
		}
		seen[k.Body] = true
	}
}

// TestChecksumMatchesSpec recomputes the checksum independently of the
// package's encoder: CRC-32 IEEE, base62 0-9A-Za-z, MSB first, padded to 6.
func TestChecksumMatchesSpec(t *testing.T) {
	k, err := Generate("acme", Test)
	if err != nil {
		t.Fatal(err)
	}
	s := k.String()
	v := uint64(crc32.ChecksumIEEE([]byte(s[:len(s)-6])))
	digits := ""
	for v > 0 {
		digits = string(alphabet[v%62]) + digits
		v /= 62
	}
	want := strings.Repeat("0", 6-len(digits)) + digits
	if got := s[len(s)-6:]; got != want {
		t.Fatalf("checksum = %q, want %q", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	good, err := Generate("tb", Live)
	if err != nil {
		t.Fatal(err)
	}
	s := good.String()
	flipped := []byte(s)
	if flipped[10] == 'a' {
		flipped[10] = 'b'
	} else {
		flipped[10] = 'a'
	}
	cases := map[string]string{
		"empty":              "",
		"no separators":      "tblive" + good.Body,
		"unknown env":        "tb_prod_" + good.Body,
		"uppercase prefix":   "TB_live_" + good.Body,
		"prefix too long":    "abcdefghijklm_live_" + good.Body,
		"empty prefix":       "_live_" + good.Body,
		"short body":         s[:len(s)-1],
		"long body":          s + "0",
		"bad checksum":       string(flipped),
		"non-base62 in body": s[:12] + "-" + s[13:],
		"trailing newline":   s + "\n",
		"leading space":      " " + s,
		"unicode":            "tb_live_" + strings.Repeat("é", 16),
		"huge":               strings.Repeat("a", 1<<20),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(in); err != ErrMalformed {
				t.Fatalf("Parse(%q) error = %v, want ErrMalformed", in, err)
			}
		})
	}
}

func TestValidPrefix(t *testing.T) {
	for p, want := range map[string]bool{
		"lk": true, "a": true, "abcdefghijkl": true, "x9": true,
		"": false, "abcdefghijklm": false, "Lk": false, "l_k": false, "lk-": false,
	} {
		if got := ValidPrefix(p); got != want {
			t.Errorf("ValidPrefix(%q) = %v, want %v", p, got, want)
		}
	}
	if _, err := Generate("BAD", Live); err == nil {
		t.Fatal("Generate accepted an invalid prefix")
	}
	if _, err := Generate("lk", "prod"); err == nil {
		t.Fatal("Generate accepted an invalid environment")
	}
}

func FuzzParse(f *testing.F) {
	k, _ := Generate("lk", Live)
	f.Add(k.String())
	f.Add("lk_test_00000000000000000000000000000000")
	f.Add("")
	f.Add("a_root_" + strings.Repeat("Z", 32))
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			return
		}
		// Anything accepted must round-trip and match the scanner regexp.
		if k.String() != s {
			t.Fatalf("Parse(%q) round-trips to %q", s, k.String())
		}
		if !scannerRegexp.MatchString(s) {
			t.Fatalf("accepted %q, which the scanner regexp misses", s)
		}
		if !strings.HasSuffix(k.Masked(), "...") || strings.Contains(k.Masked(), k.Body[8:]) {
			t.Fatalf("Masked(%q) = %q leaks the body", s, k.Masked())
		}
	})
}

func TestHashIsSHA256OfTheFullKey(t *testing.T) {
	k, _ := Generate("lk", Live)
	p, _ := Parse(k.String())
	want := sha256.Sum256([]byte(k.String()))
	if k.Hash() != want || p.Hash() != want {
		t.Fatal("Hash is not the SHA-256 of the full key")
	}
}

func BenchmarkParseAndHash(b *testing.B) {
	k, _ := Generate("lk", Live)
	s := k.String()
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		_ = p.Hash()
	}
}

// Sum is the stored hash of any string, however long: verification looks a
// presented credential up by it before parsing it.
func TestSumIsSHA256(t *testing.T) {
	k, err := Generate("lk", Live)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "x", k.String(), strings.Repeat("a", MaxLen), strings.Repeat("b", MaxLen+1), strings.Repeat("c", 5000)} {
		if got, want := Sum(s), sha256.Sum256([]byte(s)); got != want {
			t.Errorf("Sum of %d bytes = %x, want %x", len(s), got, want)
		}
	}
	if k.Hash() != Sum(k.String()) {
		t.Error("a key's Hash is not the Sum of its string")
	}
}
