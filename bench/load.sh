#!/usr/bin/env bash
# Load benchmark (issue 4, "Measure"): in one run, on loopback, with the same
# wrk threads, connections and duration, measures
#
#   a  a bare Go net/http handler returning 200 "ok"
#   h  a bare handler writing the headers of a successful /auth/check (the
#      ceiling of b: what the response SPEC §7 asks for costs by itself)
#   b  Latchkey /auth/check with a valid key
#   c  a default httputil.ReverseProxy -> the bare handler
#   d  Latchkey's reverse proxy        -> the bare handler
#   e  nginx proxy_pass                -> the bare handler (upstream keepalive)
#   f  nginx auth_request -> Latchkey /auth/check, then proxy_pass (keepalive to both)
#
# and prints req/s, p50 and p99 for each with the ratios b/a, h/a, b/h, d/c,
# d/e, f/e.
# With KEYS=N (default 1000000; 0 skips it) a second Latchkey serves a copy
# of the store with N more keys, and b is measured on both: the cached hot
# path must not slow down.
#
# Usage: bash bench/load.sh
# Settings (environment): THREADS=2 CONNS=64 DURATION=10s WARMUP=2s KEYS=1000000
#   ROUNDS=4 (every target is measured once per round, in reverse order in
#   even rounds; the best round counts for req/s, and each ratio is also
#   given as the median of its per-round ratios)
#   PAIRS=16 PAIR_DURATION=3s (then a, h and b run back to back PAIRS times,
#   PAIR_DURATION each, and b/a, h/a, b/h are also given as the median of
#   those close runs; 0 skips them)
#
# Everything started here listens on 127.0.0.1 and is stopped on exit.
# Results: a table on stdout and bench/out/load-<time>.json (gitignored).
set -euo pipefail

THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
KEYS=${KEYS:-1000000}
ROUNDS=${ROUNDS:-4}
PAIRS=${PAIRS:-16}
PAIR_DURATION=${PAIR_DURATION:-3s}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
outdir=$repo/bench/out
mkdir -p "$outdir"
work=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-bench.XXXXXX")

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf 'load: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# ---- tools ------------------------------------------------------------------

install_apt() {
  [ "$(id -u)" -eq 0 ] || die "missing $*; run as root or install them"
  apt-get update -qq
  # Keep a package's service (nginx on port 80) from starting on install.
  local policy=/usr/sbin/policy-rc.d made=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    made=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  [ -z "$made" ] || rm -f "$policy"
}
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ ${#need[@]} -eq 0 ] || { log "installing ${need[*]}"; install_apt "${need[@]}"; }
nginx_bin=$(command -v nginx)

log "building latchkey, benchserver and seed"
(cd "$repo" && CGO_ENABLED=0 go build -o "$work/latchkey" ./cmd/latchkey \
  && go build -o "$work/benchserver" ./bench/cmd/benchserver \
  && go build -o "$work/seed" ./bench/cmd/seed)

# ---- ports and processes ----------------------------------------------------

# free_port prints a loopback port nothing listens on (and that this script
# has not handed out yet).
taken=" "
free_port() {
  local p
  while :; do
    # Below the ephemeral range (32768+), where outgoing connections
    # could already hold the port.
    p=$((20000 + RANDOM % 12000))
    case $taken in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      taken="$taken$p "
      echo "$p"
      return
    fi
  done
}

# wait_http URL: poll until it answers (any status), at most 15 s.
wait_http() {
  local i
  for i in $(seq 150); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  die "$1 did not come up"
}

p_bare=$(free_port)
p_headers=$(free_port)
p_goproxy=$(free_port)
p_lk=$(free_port)
p_lkproxy=$(free_port)
p_nginx_proxy=$(free_port)
p_nginx_auth=$(free_port)

"$work/benchserver" -mode ok -addr "127.0.0.1:$p_bare" 2>"$work/bare.log" &
pids+=($!) pid_bare=$!
"$work/benchserver" -mode headers -addr "127.0.0.1:$p_headers" 2>"$work/headers.log" &
pids+=($!) pid_headers=$!
"$work/benchserver" -mode proxy -addr "127.0.0.1:$p_goproxy" -upstream "http://127.0.0.1:$p_bare" 2>"$work/goproxy.log" &
pids+=($!)

# ---- Latchkey: a fresh database with one root key, tenant, user and key ------

# shellcheck source=bench/store.sh
source "$repo/bench/store.sh"
bench_store "$work/latchkey" "$work/latchkey.db"

# start_latchkey DB ADDR [PROXY_ADDR]: latchkey serve on that database.
start_latchkey() {
  LATCHKEY_DATABASE_URL="sqlite:$1" \
    LATCHKEY_ADDR="127.0.0.1:$2" \
    LATCHKEY_ROOT_KEY="$root_key" \
    LATCHKEY_PROXY_ADDR="${3:+127.0.0.1:$3}" \
    LATCHKEY_UPSTREAM="http://127.0.0.1:$p_bare" \
    "$work/latchkey" serve 2>>"$work/latchkey-$2.log" &
  pids+=($!) last_pid=$!
}

# With KEYS, a second Latchkey serves a copy of the database that holds
# KEYS more keys, so the rounds below measure 1 key and many side by side.
if [ "$KEYS" -gt 0 ]; then
  p_lk_many=$(free_port)
  for ext in "" -wal -shm; do
    [ ! -e "$work/latchkey.db$ext" ] || cp "$work/latchkey.db$ext" "$work/many.db$ext"
  done
  log "seeding $KEYS more keys into a copy of the store"
  stored=$("$work/seed" -db "$work/many.db" -user bench -tenant t1 -n "$KEYS")
  start_latchkey "$work/many.db" "$p_lk_many"
  pid_lk_many=$last_pid
fi
start_latchkey "$work/latchkey.db" "$p_lk" "$p_lkproxy"
pid_lk=$last_pid
wait_http "http://127.0.0.1:$p_lk/healthz"
[ "$KEYS" -eq 0 ] || wait_http "http://127.0.0.1:$p_lk_many/healthz"

# ---- nginx -------------------------------------------------------------------

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log $work/nginx/access.log;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  keepalive_requests 100000;

  upstream app { server 127.0.0.1:$p_bare; keepalive 128; }
  upstream latchkey { server 127.0.0.1:$p_lk; keepalive 128; }

  # e: plain proxy_pass.
  server {
    listen 127.0.0.1:$p_nginx_proxy;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }

  # f: auth_request to Latchkey, then proxy_pass with the identity headers.
  server {
    listen 127.0.0.1:$p_nginx_auth;
    location / {
      auth_request /_latchkey;
      auth_request_set \$lk_key_id \$upstream_http_x_latchkey_key_id;
      auth_request_set \$lk_owner_id \$upstream_http_x_latchkey_owner_id;
      auth_request_set \$lk_tenant_id \$upstream_http_x_latchkey_tenant_id;
      auth_request_set \$lk_environment \$upstream_http_x_latchkey_environment;
      auth_request_set \$lk_permissions \$upstream_http_x_latchkey_permissions;
      proxy_set_header Authorization "";
      proxy_set_header X-Latchkey-Key-Id \$lk_key_id;
      proxy_set_header X-Latchkey-Owner-Id \$lk_owner_id;
      proxy_set_header X-Latchkey-Tenant-Id \$lk_tenant_id;
      proxy_set_header X-Latchkey-Environment \$lk_environment;
      proxy_set_header X-Latchkey-Permissions \$lk_permissions;
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location = /_latchkey {
      internal;
      proxy_pass http://latchkey/auth/check;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method \$request_method;
      proxy_set_header X-Original-URI \$request_uri;
    }
  }
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>>"$work/nginx/error.log" &
pids+=($!)

base="http://127.0.0.1"
wait_http "$base:$p_bare/"
wait_http "$base:$p_headers/"
wait_http "$base:$p_goproxy/"
wait_http "$base:$p_lkproxy/"
wait_http "$base:$p_nginx_proxy/"
wait_http "$base:$p_nginx_auth/"

# Every target must answer the benchmark request with 200 before it is timed.
check_200() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $api_key" "$1")
  [ "$code" = 200 ] || die "$1 answered $code, want 200"
}

# ---- measuring ----------------------------------------------------------------

# to_ms VALUE: wrk's "1.23ms", "950.00us" or "1.01s" in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else { printf "%s", v }
  }'
}

declare -A rps p50 p99 label rounds per_round cpu_round
order=()
clk_tck=$(getconf CLK_TCK)

# cpu_ticks PID: the user + system CPU time the process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure NAME LABEL URL [PID]: one warm-up, then the timed run. Over the
# rounds, each target keeps its best run (other work on the machine only
# ever slows a run down); every run is in the JSON. With PID (a target
# served by one process of its own), the run also measures that process's
# CPU time per request: unlike req/s, it does not depend on how much of
# the two cores wrk took.
measure() {
  local name=$1 url=$3 pid=${4:-} out r l50 l99 t0 t1 n
  label[$name]=$2
  check_200 "$url"
  wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -H "Authorization: Bearer $api_key" "$url" >/dev/null
  [ -z "$pid" ] || t0=$(cpu_ticks "$pid")
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "Authorization: Bearer $api_key" "$url")
  if [ -n "$pid" ]; then
    t1=$(cpu_ticks "$pid")
    n=$(awk '/requests in/ { print $1 }' <<<"$out")
    cpu_round[$name.$round]=$(awk -v t=$((t1 - t0)) -v hz="$clk_tck" -v n="$n" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
  fi
  if grep -q 'Non-2xx' <<<"$out"; then
    printf '%s\n' "$out" >&2
    die "$name: some responses were not 2xx; the numbers would be meaningless"
  fi
  r=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  l50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  l99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  per_round[$name.$round]=$r
  rounds[$name]="${rounds[$name]:+${rounds[$name]}, }{\"rps\": $r, \"p50Ms\": $l50, \"p99Ms\": $l99}"
  if [ -z "${rps[$name]:-}" ]; then
    order+=("$name")
  fi
  if [ -z "${rps[$name]:-}" ] || awk -v x="$r" -v y="${rps[$name]}" 'BEGIN { exit !(x > y) }'; then
    rps[$name]=$r p50[$name]=$l50 p99[$name]=$l99
  fi
  log "$(printf '%-6s %-48s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms%s' \
    "$name" "$2" "$r" "$l50" "$l99" "${pid:+  server ${cpu_round[$name.$round]} us CPU/req}")"
}

# targets: what one round measures, in order (name, label, URL[, PID]).
targets=(
  "a|bare net/http handler|$base:$p_bare/|$pid_bare"
  "h|bare handler, /auth/check's response headers|$base:$p_headers/|$pid_headers"
  "b|Latchkey /auth/check, valid key|$base:$p_lk/auth/check|$pid_lk"
)
if [ "$KEYS" -gt 0 ]; then
  targets+=("b_many|Latchkey /auth/check, $stored keys in store|$base:$p_lk_many/auth/check|$pid_lk_many")
fi
targets+=(
  "c|httputil.ReverseProxy (default) -> bare|$base:$p_goproxy/|"
  "d|Latchkey proxy -> bare|$base:$p_lkproxy/|"
  "e|nginx proxy_pass -> bare|$base:$p_nginx_proxy/|"
  "f|nginx auth_request Latchkey + proxy_pass|$base:$p_nginx_auth/|"
)

log "wrk -t$THREADS -c$CONNS -d$DURATION (warm-up $WARMUP) on $(nproc) CPUs, $ROUNDS rounds"
for round in $(seq "$ROUNDS"); do
  log "round $round of $ROUNDS"
  # Even rounds run the targets in reverse, so a target's place in the
  # round (what ran just before it, drift over the round) does not favour
  # one side of a ratio.
  order_idx=$(seq 0 $((${#targets[@]} - 1)))
  [ $((round % 2)) -eq 1 ] || order_idx=$(seq $((${#targets[@]} - 1)) -1 0)
  for i in $order_idx; do
    IFS='|' read -r name lbl url pid <<<"${targets[$i]}"
    measure "$name" "$lbl" "$url" "$pid"
  done
done

# ---- close pairs: a, h and b in short runs side by side -------------------------

# On a shared VM a ratio of two runs scatters by ±15 % and more, from
# round to round, so a median of four rounds still moves with one lucky or
# unlucky run. Here a, h and b run back to back, PAIR_DURATION each, in
# reverse order every other time, PAIRS times: many more ratios, each of
# runs seconds apart, for a median that one run moves less.
quick() {
  wrk -t"$THREADS" -c"$CONNS" -d"$PAIR_DURATION" -H "Authorization: Bearer $api_key" "$1" |
    awk '/^Requests\/sec:/ { print $2 }'
}
declare -A close_ratios
if [ "$PAIRS" -gt 0 ]; then
  log "$PAIRS close runs of a, h and b, $PAIR_DURATION each"
  quick_targets=("a $base:$p_bare/" "h $base:$p_headers/" "b $base:$p_lk/auth/check")
  for i in $(seq "$PAIRS"); do
    declare -A q=()
    idx="0 1 2"
    [ $((i % 2)) -eq 1 ] || idx="2 1 0"
    for j in $idx; do
      read -r name url <<<"${quick_targets[$j]}"
      q[$name]=$(quick "$url")
      [ -n "${q[$name]}" ] || die "$name: wrk gave no result"
    done
    for r in b/a h/a b/h; do
      close_ratios[$r]+="$(awk -v x="${q[${r%/*}]}" -v y="${q[${r#*/}]}" 'BEGIN { printf "%.3f", x / y }') "
    done
    log "$(printf 'close run %2d: a %6.0f  h %6.0f  b %6.0f req/s' "$i" "${q[a]}" "${q[h]}" "${q[b]}")"
  done
fi

# ---- report --------------------------------------------------------------------

ratio() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.3f", x / y }'; }

# median: the median of the numbers on stdin.
median() {
  sort -n | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# each X Y: X's req/s over Y's in the same round, one line per round.
each() {
  local i
  for i in $(seq "$ROUNDS"); do ratio "${per_round[$1.$i]}" "${per_round[$2.$i]}"; echo; done
}

# paired X Y: the median of each X Y, which cancels load that other work
# puts on the machine for a while.
paired() { each "$1" "$2" | median; }

# Server CPU per request, median over the rounds, for the targets measured
# with their process.
declare -A cpu
cpu_order=()
for n in "${order[@]}"; do
  [ -n "${cpu_round[$n.1]:-}" ] || continue
  cpu[$n]=$(for i in $(seq "$ROUNDS"); do echo "${cpu_round[$n.$i]}"; done | median)
  cpu_order+=("$n")
done

printf '\nwrk -t%s -c%s -d%s --latency, %s CPUs, %s; best of %s rounds\n\n' "$THREADS" "$CONNS" "$DURATION" "$(nproc)" "$(go version | awk '{print $3}')" "$ROUNDS"
printf '| %-2s | %-48s | %10s | %9s | %9s |\n' "" "target" "req/s" "p50 ms" "p99 ms"
printf '|%s|%s|%s|%s|%s|\n' "----" "--------------------------------------------------" "------------" "-----------" "-----------"
for n in "${order[@]}"; do
  printf '| %-2s | %-48s | %10.0f | %9.3f | %9.3f |\n' "${n%%_*}" "${label[$n]}" "${rps[$n]}" "${p50[$n]}" "${p99[$n]}"
done
declare -A ratios medians
ratio_order=(b/a h/a b/h d/c d/e f/e)
pairs=("b a" "h a" "b h" "d c" "d e" "f e")
if [ -n "${rps[b_many]:-}" ]; then
  ratio_order+=("b(${KEYS})/b(1)")
  pairs+=("b_many b")
fi
for i in "${!ratio_order[@]}"; do
  read -r x y <<<"${pairs[$i]}"
  ratios[${ratio_order[$i]}]=$(ratio "${rps[$x]}" "${rps[$y]}")
  medians[${ratio_order[$i]}]=$(paired "$x" "$y")
done
printf '\nratios of the best rounds (req/s):'
for r in "${ratio_order[@]}"; do printf '  %s = %s' "$r" "${ratios[$r]}"; done
printf '\nmedian of the per-round ratios:  '
for r in "${ratio_order[@]}"; do printf '  %s = %s' "$r" "${medians[$r]}"; done
printf '\nper round, in order:             '
for r in b/a h/a b/h; do printf '  %s = %s' "$r" "$(each "${r%/*}" "${r#*/}" | paste -sd, -)"; done
if [ "$PAIRS" -gt 0 ]; then
  printf '\nmedian of %s close runs (%s each):' "$PAIRS" "$PAIR_DURATION"
  for r in b/a h/a b/h; do printf '  %s = %s' "$r" "$(printf '%s\n' ${close_ratios[$r]} | median)"; done
fi
printf '\nserver CPU per request (us, median of the rounds):'
for n in "${cpu_order[@]}"; do printf '  %s = %s' "$n" "${cpu[$n]}"; done
printf '\ntargets: b/a >= 0.90, d/c >= 1.2, stretch d/e >= 0.8; b with %s keys must not drop\n' "$KEYS"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
json=$outdir/load-$stamp.json
{
  printf '{\n  "time": "%s",\n  "cpus": %s,\n  "go": "%s",\n  "commit": "%s",\n' \
    "$stamp" "$(nproc)" "$(go version | awk '{print $3}')" "$(git -C "$repo" rev-parse --short HEAD)"
  printf '  "wrk": {"threads": %s, "connections": %s, "duration": "%s", "warmup": "%s"},\n' \
    "$THREADS" "$CONNS" "$DURATION" "$WARMUP"
  printf '  "rounds": %s,\n  "best": "each target: its round with the most req/s",\n' "$ROUNDS"
  printf '  "keysSeeded": %s,\n  "results": {\n' "$KEYS"
  sep=""
  for n in "${order[@]}"; do
    printf '%s    "%s": {"label": "%s", "rps": %s, "p50Ms": %s, "p99Ms": %s,\n          "rounds": [%s]}' \
      "$sep" "$n" "${label[$n]}" "${rps[$n]}" "${p50[$n]}" "${p99[$n]}" "${rounds[$n]}"
    sep=$',\n'
  done
  printf '\n  },\n  "ratios": {'
  sep=""
  for r in "${ratio_order[@]}"; do printf '%s"%s": %s' "$sep" "$r" "${ratios[$r]}"; sep=", "; done
  printf '},\n  "medianRoundRatios": {'
  sep=""
  for r in "${ratio_order[@]}"; do printf '%s"%s": %s' "$sep" "$r" "${medians[$r]}"; sep=", "; done
  printf '},\n  "closeRuns": {"count": %s, "duration": "%s"' "$PAIRS" "$PAIR_DURATION"
  for r in b/a h/a b/h; do
    printf ', "%s": [%s]' "$r" "$(printf '%s\n' ${close_ratios[$r]:-} | paste -sd, -)"
  done
  printf '},\n  "serverCpuUsPerRequest": {'
  sep=""
  for n in "${cpu_order[@]}"; do printf '%s"%s": %s' "$sep" "$n" "${cpu[$n]}"; sep=", "; done
  printf '}\n}\n'
} >"$json"
cp "$json" "$outdir/load-latest.json"
printf 'results: %s\n' "$json"
