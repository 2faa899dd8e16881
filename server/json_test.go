package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
)

func decodeBody[T any](body string) (T, error) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, maxBodyBytes)
	return decode[T](r)
}

func TestDecodeMessages(t *testing.T) {
	for _, tc := range []struct{ body, msg string }{
		{`{"name":"x","foo":1}`, `unknown field "foo"`},
		{`{"name":1}`, "name must be a string"},
		{`[]`, "request body must be a JSON object"},
		{`{"name":"x",}`, "malformed JSON at offset 12: invalid character '}' looking for beginning of object key string"},
		{``, "request body is required"},
		{`{"name":"x"}{}`, "request body must contain a single JSON object; found data after it at offset 12"},
		{`{"permissions":[true]}`, "permissions must be an array of strings"},
		{`{"meta":true}`, "meta must be an object"},
		{`{"rateLimit":{"limit":true}}`, "rateLimit.limit must be an integer"},
		{`{"rateLimit":{"nope":1}}`, `unknown field "nope"`},
		{`{"` + strings.Repeat("é", 100) + `":1}`, `unknown field "` + strings.Repeat("é", 20) + `…"`},
		{`{"a\nb":1}`, `unknown field "a\nb"`},
	} {
		_, err := decodeBody[createKeyRequest](tc.body)
		var e *latchkey.Error
		if !errors.As(err, &e) || e.Code != latchkey.CodeValidationFailed || e.Message != tc.msg {
			t.Errorf("decode(%.40q) = %v, want VALIDATION_FAILED %q", tc.body, err, tc.msg)
		}
	}
}

func TestDecodeOptionalFields(t *testing.T) {
	p, err := decodeBody[patchKeyRequest](`{"expiresAt":null,"rateLimit":{"limit":1,"window":"1s"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if !p.ExpiresAt.Set || !p.ExpiresAt.Null || !p.RateLimit.Set || p.RateLimit.Null || p.RateLimit.Value.Limit != 1 || p.Name.Set || p.Meta.Set {
		t.Errorf("decoded %+v", p)
	}
	kp, err := p.patch()
	if err != nil || !kp.SetExpiresAt || kp.ExpiresAt != nil || !kp.SetRateLimit || kp.RateLimit.Window != time.Second || kp.Name != nil {
		t.Errorf("patch = %+v, %v", kp, err)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		field, want string
	}{
		{"name", "a string"},
		{"permissions", "an array of strings"},
		{"meta", "an object"},
		{"rateLimit", "an object"},
		{"rateLimit.limit", "an integer"},
	} {
		if got := describe(fieldType(reflect.TypeFor[patchKeyRequest](), strings.Split(tc.field, "."))); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.field, got, tc.want)
		}
	}
}

// decodes is the decoder of an endpoint that checks nothing more.
func decodes[T any](body string) error {
	_, err := decodeBody[T](body)
	return err
}

// bodyDecoders decode a body as each endpoint does, with the checks the
// handler runs on the decoded request before it reaches the service.
var bodyDecoders = []struct {
	name   string
	decode func(body string) error
}{
	{"create key", func(b string) error {
		req, err := decodeBody[createKeyRequest](b)
		if err == nil {
			_, err = req.newKey(start)
		}
		return err
	}},
	{"patch key", func(b string) error {
		req, err := decodeBody[patchKeyRequest](b)
		if err == nil {
			_, err = req.patch()
		}
		return err
	}},
	{"rotate key", decodes[rotateKeyRequest]},
	{"verify key", decodes[verifyKeyRequest]},
	{"create tenant", decodes[createTenantRequest]},
	{"patch tenant", decodes[patchTenantRequest]},
	{"create user", decodes[createUserRequest]},
	{"patch user", func(b string) error {
		req, err := decodeBody[patchUserRequest](b)
		if err == nil {
			_, err = req.patch()
		}
		return err
	}},
	{"create root key", decodes[createRootKeyRequest]},
	{"create permission", decodes[createPermissionRequest]},
	{"create OAuth client", decodes[createOAuthClientRequest]},
	{"patch OAuth client", decodes[patchOAuthClientRequest]},
}

// FuzzDecodeBodies feeds every endpoint's body decoder (kind picks one):
// whatever the bytes, the answer is a decoded request or a client error
// with a short, printable message, never a panic or a server error.
func FuzzDecodeBodies(f *testing.F) {
	for _, b := range badCreateBodies {
		if len(b.body) < 1000 {
			f.Add(uint8(0), []byte(b.body))
		}
	}
	f.Add(uint8(0), []byte(`{"name":"ok","environment":"test","permissions":["a:*"],"tenantIds":["t"],"expiresIn":"1h","rateLimit":{"limit":1,"window":"1m"},"meta":{"a":[1,{"b":null}]}}`))
	f.Add(uint8(0), []byte(`{"name":"ok","expiresAt":"2030-01-01T00:00:00Z"}`))
	f.Add(uint8(1), []byte(`{"name":null,"expiresAt":null,"rateLimit":{"limit":0,"window":"1s"},"meta":null}`))
	f.Add(uint8(1), []byte(`{"expiresAt":"2030-01-01T00:00:00+02:00","permissions":null}`))
	f.Add(uint8(2), []byte(`{"gracePeriod":"30d"}`))
	f.Add(uint8(3), []byte(`{"key":"lk_live_x","permission":"a:b","tenantId":"t"}`))
	f.Add(uint8(6), []byte(`{"id":"u","email":"a@b","password":"p","isAdmin":true,"tenantIds":["t"]}`))
	f.Add(uint8(7), []byte(`{"email":null,"password":"x","isAdmin":null,"disabled":false}`))
	f.Add(uint8(11), []byte(`{"name":"n","scopes":["a:b"],"disabled":true}`))
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		d := bodyDecoders[int(kind)%len(bodyDecoders)]
		err := d.decode(string(body))
		if err == nil {
			return
		}
		var e *latchkey.Error
		if !errors.As(err, &e) || (e.Code != latchkey.CodeValidationFailed && e.Code != latchkey.CodePayloadTooLarge) {
			t.Fatalf("%s: error %v (%T) is not a client error", d.name, err, err)
		}
		if len(e.Message) > 300 || !utf8.ValidString(e.Message) {
			t.Fatalf("%s: message of %d bytes or invalid UTF-8: %q", d.name, len(e.Message), e.Message)
		}
	})
}
