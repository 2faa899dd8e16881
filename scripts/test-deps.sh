#!/usr/bin/env bash
# Installs and starts what the test suite talks to, on a fresh Debian machine.
# Idempotent: anything already present is left alone. `make test` runs it.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }

have gcc || need_apt+=(gcc)          # the race detector needs cgo
have nginx || need_apt+=(nginx)        # forward-auth tests drive a real nginx
have caddy || need_apt+=(caddy)        # and a real Caddy (server/caddy_test.go)
[ -x /usr/bin/chromium ] || need_apt+=(chromium) # dashboard browser tests (dashboard/e2e)
have node || need_apt+=(nodejs)        # runs playwright-core for those tests
have npm || need_apt+=(npm)
have redis-server || need_apt+=(redis-server) # the shared rate limiter (redis/, cluster test)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing ${need_apt[*]}; run as root or install them" >&2
    exit 1
  fi
  apt-get update -qq
  # Tests start their own nginx and Caddy on loopback ports; keep the
  # packages' services from starting on port 80 during installation.
  policy=/usr/sbin/policy-rc.d
  [ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; trap 'rm -f "$policy"' EXIT; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# playwright-core drives the system Chromium; it never downloads a browser.
e2e="$(cd "$(dirname "$0")/.." && pwd)/dashboard/e2e"
if [ ! -d "$e2e/node_modules/playwright-core" ]; then
  npm ci --prefix "$e2e" --no-audit --no-fund --loglevel=error >/dev/null
fi

# Redis on 127.0.0.1:6379, for the shared rate limiter's tests. Started here
# when it is installed but not answering (a fresh machine, a container
# without an init system); no persistence: tests clean up their own keys.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis_dir="${TMPDIR:-/tmp}/latchkey-test-redis"
  mkdir -p "$redis_dir"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir "$redis_dir" --logfile "$redis_dir/redis.log"
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { echo "test-deps: redis-server did not start; see $redis_dir/redis.log" >&2; exit 1; }
fi

# PostgreSQL on 127.0.0.1:5432, for the PostgreSQL store's tests (postgres/,
# cmd/latchkey, the cluster test): installed when missing, its cluster
# started when it does not answer (a fresh machine, a container without an
# init system), and its superuser let in over loopback without a password,
# as the tests' default LATCHKEY_TEST_POSTGRES_URL
# (postgres://postgres@127.0.0.1:5432/postgres) expects. Test machines only.
if ! have pg_ctlcluster || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: PostgreSQL is missing; run as root or install the postgresql package" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
pg_version="$(ls /etc/postgresql | sort -V | tail -n 1)"
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_up; then
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
  for _ in $(seq 100); do pg_up && break; sleep 0.1; done
  pg_up || { echo "test-deps: PostgreSQL $pg_version did not start; see /var/log/postgresql/" >&2; exit 1; }
fi
pg_login() { psql -w -q -h 127.0.0.1 -p 5432 -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1; }
if ! pg_login; then
  hba="/etc/postgresql/$pg_version/main/pg_hba.conf"
  grep -q '^host all postgres 127.0.0.1/32 trust' "$hba" ||
    sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
  for _ in $(seq 50); do pg_login && break; sleep 0.1; done
  pg_login || { echo "test-deps: cannot log in to PostgreSQL as postgres over 127.0.0.1" >&2; exit 1; }
fi

# Traefik, for the forward-auth test of its documented configuration
# (server/traefik_test.go). Debian has no package, so it is built from the
# Go module proxy: its go.mod has replace directives, which `go install
# pkg@version` refuses, so the module is built as a main module from a copy.
# Its web UI is not needed; a placeholder satisfies the go:embed.
traefik_version=v3.5.0
traefik_bin="$(go env GOPATH)/bin/traefik"
if ! have traefik && [ ! -x "$traefik_bin" ]; then
  echo "test-deps: building Traefik $traefik_version from the Go module proxy (a few minutes, once)" >&2
  src=$(go mod download -json "github.com/traefik/traefik/v3@$traefik_version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] || { echo "test-deps: could not download Traefik $traefik_version" >&2; exit 1; }
  build=$(mktemp -d)
  cp -r "$src/." "$build"
  chmod -R u+w "$build"
  mkdir -p "$build/webui/static"
  echo '<!doctype html><title>Traefik</title>' >"$build/webui/static/index.html"
  mkdir -p "$(dirname "$traefik_bin")"
  (cd "$build" && go build -ldflags '-s -w' -o "$traefik_bin" ./cmd/traefik)
  rm -rf "$build"
fi
