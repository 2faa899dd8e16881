package server

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// openAPIDocument is the OpenAPI 3.1 description of every route addRoutes
// registers, dashboard pages excepted (SPEC §7). openapi_test.go keeps the
// two in step.
//
//go:embed openapi.json
var openAPIDocument []byte

// handleOpenAPI serves GET /openapi.json: public, the same for everyone, so
// caches may keep it, and revalidate it by its ETag.
func handleOpenAPI() http.Handler {
	sum := sha256.Sum256(openAPIDocument)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	length := strconv.Itoa(len(openAPIDocument))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("ETag", etag)
		if etagMatches(r.Header.Values("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", length)
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(openAPIDocument)
		}
	})
}

// etagMatches applies If-None-Match (RFC 9110 §13.1.2): a weak comparison
// against any listed tag, or "*".
func etagMatches(ifNoneMatch []string, etag string) bool {
	for _, v := range ifNoneMatch {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == etag {
				return true
			}
		}
	}
	return false
}
