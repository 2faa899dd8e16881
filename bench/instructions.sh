#!/usr/bin/env bash
# Instructions per request (issue 4, "Measure"), counted by valgrind's
# callgrind rather than timed: on a shared VM whose speed drifts by ±15 %,
# wrk's req/s cannot tell apart changes worth 1-2 %, while an instruction
# count is the same from run to run. It counts user space only (not the
# kernel's TCP work, nor cache misses), so it complements bench/load.sh
# rather than replacing it.
#
# For each target (a bare handler, h the bare handler writing /auth/check's
# headers, b latchkey serve's /auth/check with a valid key) it starts the
# server under callgrind, warms it up with 2,000 requests, zeroes the
# counters, sends N more over 8 connections and divides the instructions
# counted in that window by N.
#
# Under callgrind a server runs ~50x slower, so the work it does per second
# rather than per request (latchkey's usage flush and change polling) counts
# ~50x more per request than at full speed: read b's figure as an upper
# bound, and compare builds with each other.
#
# Usage: bash bench/instructions.sh   Settings: N=20000
# Output: a table on stdout; callgrind files stay in the printed directory
# for callgrind_annotate.
set -euo pipefail

N=${N:-20000}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-instr.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf 'instructions: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

need=()
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing ${need[*]}; run as root or install them"
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

log "building"
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/latchkey" ./cmd/latchkey \
  && go build -o "$work/benchserver" ./bench/cmd/benchserver)

# load N URL: N requests over 8 connections. wrk has no request count, and
# a thread that stops itself still waits out -d; so the Lua script stops
# after N responses and leaves a file, and the load ends when it appears
# (the server is then idle, which must not be counted).
cat >"$work/count.lua" <<'EOF'
local n, limit, done = 0, tonumber(os.getenv("N")), os.getenv("DONE")
response = function()
  n = n + 1
  if n == limit then
    io.open(done, "w"):close()
    wrk.thread:stop()
  end
end
EOF
load() {
  local n=$1 url=$2 done="$work/done" wpid
  rm -f "$done"
  N=$n DONE=$done wrk -t1 -c8 -d600s -s "$work/count.lua" -H "Authorization: Bearer $api_key" "$url" >/dev/null &
  wpid=$!
  for _ in $(seq 6000); do
    [ -e "$done" ] && break
    sleep 0.05
  done
  kill "$wpid" 2>/dev/null || true
  wait "$wpid" 2>/dev/null || true
  [ -e "$done" ] || die "$url: $n requests were not answered in time"
}

# shellcheck source=bench/store.sh
source "$repo/bench/store.sh"
bench_store "$work/latchkey" "$work/latchkey.db"

port=$((20000 + RANDOM % 10000))
declare -A per_request

# count NAME PATH CMD...: CMD serves on 127.0.0.1:$port.
count() {
  local name=$1 path=$2 url vpid total file
  shift 2
  url="http://127.0.0.1:$port$path"
  # Go's asynchronous preemption signals upset callgrind; the scheduler
  # still preempts at function calls.
  GODEBUG=asyncpreemptoff=1 LATCHKEY_ADDR="127.0.0.1:$port" LATCHKEY_ROOT_KEY="$root_key" \
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.$name" "$@" >"$work/$name.log" 2>&1 &
  vpid=$!
  pids+=("$vpid")
  for _ in $(seq 300); do
    curl -s -o /dev/null --max-time 2 "$url" && break
    sleep 0.2
  done
  load 2000 "$url"
  callgrind_control -z "$vpid" >/dev/null
  load "$N" "$url"
  callgrind_control -d "$vpid" >/dev/null
  kill "$vpid"
  wait "$vpid" 2>/dev/null || true
  file=$(ls -t "$work/callgrind.$name".* | head -1)
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$file")
  per_request[$name]=$((total / N))
  log "$(printf '%-2s %8d instructions/request over %d requests (%s)' "$name" "${per_request[$name]}" "$N" "$file")"
  port=$((port + 1))
}

count a / "$work/benchserver" -mode ok -addr "127.0.0.1:$port"
count h / "$work/benchserver" -mode headers -addr "127.0.0.1:$port"
count b /auth/check "$work/latchkey" serve

printf '\ninstructions per request (user space, callgrind, %s requests, commit %s)\n\n' "$N" "$(git -C "$repo" rev-parse --short HEAD)"
printf '| target | instructions/request |\n|---|---:|\n'
printf '| a bare handler | %d |\n| h bare handler, /auth/check headers | %d |\n| b latchkey /auth/check | %d |\n' \
  "${per_request[a]}" "${per_request[h]}" "${per_request[b]}"
printf '\nb - h = %d (Latchkey'"'"'s work beyond the response), h - a = %d (the response)\n' \
  $((per_request[b] - per_request[h])) $((per_request[h] - per_request[a]))
printf 'callgrind files: %s\n' "$work"
