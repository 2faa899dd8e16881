package password

import (
	"strings"
	"testing"
)

func TestHashAndCheck(t *testing.T) {
	h, err := Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "correct") || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected hash %q", h)
	}
	h2, _ := Hash("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		ok, err := Check(h, pw)
		if err != nil || ok != want {
			t.Errorf("Check(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
}

func TestHashRejectsBadLengths(t *testing.T) {
	for _, pw := range []string{"", "short", strings.Repeat("x", MaxLen+1)} {
		if _, err := Hash(pw); err == nil {
			t.Errorf("Hash accepted a %d-byte password", len(pw))
		}
	}
}

func TestCheckRejectsMalformedHashes(t *testing.T) {
	for _, enc := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=18$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=x$AAAA$AAAA", "$argon2id$v=19$m=1,t=1,p=1$!!$AAAA"} {
		if ok, err := Check(enc, "whatever1"); ok || err == nil {
			t.Errorf("Check(%q) = %v, %v; want false and an error", enc, ok, err)
		}
	}
}
