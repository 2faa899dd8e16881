# Sourced by bench/load.sh and bench/instructions.sh.

# bench_store LATCHKEY DB: creates the benchmarks' store with the latchkey
# binary LATCHKEY — a fresh SQLite database at DB holding a root key, tenant
# t1, user bench and one API key of it — exports LATCHKEY_DATABASE_URL for
# it, and sets root_key and api_key.
bench_store() {
  local lk=$1
  export LATCHKEY_DATABASE_URL="sqlite:$2"
  root_key=$("$lk" root-keys create --name bench 2>/dev/null)
  "$lk" tenants create --id t1 --name "Tenant 1" >/dev/null 2>&1
  "$lk" users create --id bench --tenant t1 >/dev/null 2>&1
  api_key=$("$lk" keys create --user bench --name bench --tenant t1 2>/dev/null)
  [ -n "$api_key" ] || die "could not create the benchmark key"
}
