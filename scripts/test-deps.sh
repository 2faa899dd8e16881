#!/usr/bin/env bash
# Installs and starts what the test suite talks to, on a fresh Debian machine.
# Idempotent: anything already present is left alone. `make test` runs it.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }

have gcc || need_apt+=(gcc)          # the race detector needs cgo
have nginx || need_apt+=(nginx)        # forward-auth tests drive a real nginx
[ -x /usr/bin/chromium ] || need_apt+=(chromium) # dashboard browser tests (dashboard/e2e)
have node || need_apt+=(nodejs)        # runs playwright-core for those tests
have npm || need_apt+=(npm)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: missing ${need_apt[*]}; run as root or install them" >&2
    exit 1
  fi
  apt-get update -qq
  # Tests start their own nginx on loopback ports; keep the package's
  # service from starting on port 80 during installation.
  policy=/usr/sbin/policy-rc.d
  [ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; trap 'rm -f "$policy"' EXIT; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# playwright-core drives the system Chromium; it never downloads a browser.
e2e="$(cd "$(dirname "$0")/.." && pwd)/dashboard/e2e"
if [ ! -d "$e2e/node_modules/playwright-core" ]; then
  npm ci --prefix "$e2e" --no-audit --no-fund --loglevel=error >/dev/null
fi
