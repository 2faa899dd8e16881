package dashboard

import "testing"

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "/settings/api-keys",
		"/admin/users":         "/admin/users",
		"//evil.example":       "/settings/api-keys",
		"/\\evil.example":      "/settings/api-keys",
		"https://evil.example": "/settings/api-keys",
		"javascript:alert(1)":  "/settings/api-keys",
		"/ok\r\nSet-Cookie: x": "/settings/api-keys",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
