package server

import (
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeTraefikConfig is the documented Traefik dynamic configuration
// (README "Forward auth"), with this test's addresses: the test runs
// exactly what users copy.
func readmeTraefikConfig(t *testing.T, latchkeyURL, apiURL string) string {
	t.Helper()
	conf := readmeBlock(t, "**Traefik**", "yaml")
	for _, r := range [][2]string{
		{`"http://latchkey:8080/auth/check"`, `"` + latchkeyURL + `/auth/check"`},
		{"Host(`api.example.com`)", "PathPrefix(`/`)"},
		{`"http://api:8000"`, `"` + apiURL + `"`},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("the README's Traefik configuration no longer has %s", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	return conf
}

// startTraefik runs traefik with the README's configuration in front of
// api, asking latchkey. It skips without traefik, except in CI, where
// scripts/test-deps.sh must have built it.
func startTraefik(t *testing.T, latchkeyURL, apiURL string) string {
	t.Helper()
	bin := requiredBinary(t, "traefik", filepath.Join(build.Default.GOPATH, "bin", "traefik"))
	dir := t.TempDir()
	dynamic := filepath.Join(dir, "dynamic.yml")
	if err := os.WriteFile(dynamic, []byte(readmeTraefikConfig(t, latchkeyURL, apiURL)), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := freeLoopbackAddr(t)
	cmd := exec.Command(bin,
		"--entryPoints.web.address="+listen,
		"--providers.file.filename="+dynamic,
		"--global.checkNewVersion=false",
		"--global.sendAnonymousUsage=false",
		"--log.level=WARN")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	front := startFrontProxy(t, cmd, listen, syscall.SIGTERM)
	// Traefik listens before the file provider has loaded the routes.
	deadline := time.Now().Add(10 * time.Second)
	for sendVia(t, front, "GET", "/status", nil).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("traefik did not load the configuration's router")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return front
}

func TestTraefikForwardAuth(t *testing.T) {
	e := newFrontProxyEnv(t)
	api := newRecordingAPI(t)
	testFrontProxy(t, e, api, startTraefik(t, e.srv.URL, api.URL))
}
