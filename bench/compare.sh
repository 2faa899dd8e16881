#!/usr/bin/env bash
# Compares /auth/check of two builds of latchkey under the same load:
# the commit REV (default: the previous commit) and the working tree. Both
# serve copies of one store at once and are measured in alternation, one
# short wrk run each per round, in reverse order in even rounds; the
# figure is the median of the rounds' req/s ratios (new/old) and of their
# server CPU differences. On a VM whose speed drifts by ±15 % from minute
# to minute, neighbouring short runs share the drift, so this tells apart
# changes of a few percent that separate load.sh runs cannot.
#
# Usage: bash bench/compare.sh [REV]
# Settings (environment): ROUNDS=16 DURATION=3s THREADS=2 CONNS=64
set -euo pipefail

REV=${1:-HEAD~1}
ROUNDS=${ROUNDS:-16}
DURATION=${DURATION:-3s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-compare.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  git -C "$repo" worktree remove --force "$work/old-src" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf 'compare: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

command -v wrk >/dev/null 2>&1 || die "wrk is missing (bench/load.sh installs it)"

log "building $REV and the working tree"
git -C "$repo" worktree add -q --detach "$work/old-src" "$REV"
(cd "$work/old-src" && CGO_ENABLED=0 go build -o "$work/latchkey-old" ./cmd/latchkey)
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/latchkey-new" ./cmd/latchkey)

# shellcheck source=bench/store.sh
source "$repo/bench/store.sh"
bench_store "$work/latchkey-new" "$work/store.db"

port=$((20000 + RANDOM % 10000))
declare -A url pid
for name in old new; do
  cp "$work/store.db" "$work/$name.db" # serve creates the .kek beside each on first start
  LATCHKEY_DATABASE_URL="sqlite:$work/$name.db" LATCHKEY_ADDR="127.0.0.1:$port" LATCHKEY_ROOT_KEY="$root_key" \
    "$work/latchkey-$name" serve 2>"$work/$name.log" &
  pid[$name]=$!
  pids+=("$!")
  url[$name]="http://127.0.0.1:$port/auth/check"
  port=$((port + 1))
done
for name in old new; do
  for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $api_key" "${url[$name]}" || true)
    [ "$code" = 200 ] && break
    sleep 0.1
  done
  [ "$code" = 200 ] || die "$name answered $code, want 200"
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# run NAME: one warm-up second, then the timed run; prints "req/s cpu-us".
run() {
  local name=$1 out t0 t1 n
  wrk -t"$THREADS" -c"$CONNS" -d1s -H "Authorization: Bearer $api_key" "${url[$name]}" >/dev/null
  t0=$(cpu_ticks "${pid[$name]}")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -H "Authorization: Bearer $api_key" "${url[$name]}")
  t1=$(cpu_ticks "${pid[$name]}")
  grep -q 'Non-2xx' <<<"$out" && die "$name: some responses were not 2xx"
  n=$(awk '/requests in/ { print $1 }' <<<"$out")
  awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$n" '/^Requests\/sec:/ { printf "%s %.2f\n", $2, t / hz * 1e6 / n }' <<<"$out"
}

ratios=() cpu=()
for round in $(seq "$ROUNDS"); do
  order=(old new)
  [ $((round % 2)) -eq 0 ] && order=(new old)
  declare -A rps=() us=()
  for name in "${order[@]}"; do
    read -r rps[$name] us[$name] < <(run "$name")
    [ -n "${us[$name]:-}" ] || die "$name: wrk gave no result"
  done
  ratios+=("$(awk -v a="${rps[new]}" -v b="${rps[old]}" 'BEGIN { printf "%.3f", a / b }')")
  cpu+=("$(awk -v a="${us[new]}" -v b="${us[old]}" 'BEGIN { printf "%.2f", a - b }')")
  log "$(printf 'round %2d: old %8.0f req/s %6.2f us CPU/req   new %8.0f req/s %6.2f us CPU/req   new/old %s' \
    "$round" "${rps[old]}" "${us[old]}" "${rps[new]}" "${us[new]}" "${ratios[-1]}")"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%s vs working tree, %d rounds of wrk -t%s -c%s -d%s:\n' "$REV" "$ROUNDS" "$THREADS" "$CONNS" "$DURATION"
printf '  req/s new/old: median %s (rounds %s)\n' "$(median "${ratios[@]}")" "$(printf '%s\n' "${ratios[@]}" | sort -g | tr '\n' ' ')"
printf '  server CPU per request, new - old: median %s us\n' "$(median "${cpu[@]}")"
