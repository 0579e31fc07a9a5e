#!/usr/bin/env bash
# Load benchmark: mcp-authd beside the peer (node-oidc-provider, ../shared/bench) and beside
# the ceilings (bench/ceiling: an axum hello-world, one ES256 signature, one verification),
# same run, same machine, loopback, wrk at concurrency 50 for DURATION per row, ROUNDS
# rounds (each round measures every row once, the peer and the ceilings right after
# mcp-authd), reported as the median of the rounds, cell by cell.
#
#   bench/load.sh [--postgres] [--growth] [--no-peer] [--no-build]
#
# --postgres  mcp-authd on a throwaway PostgreSQL on this machine instead of SQLite.
# --growth    then seeds 1,000,000 live refresh tokens and 100,000 clients
#             (bench/seed_growth.py) and measures every mcp-authd row again ("grown").
# Prints one table (rps, p50, p99, server CPU per request, peak RSS, ratio to the peer, to
# the ceiling and to the empty database) and writes it to OUT_DIR/load-table.md, the raw
# rows to OUT_DIR/load-results.tsv and a chart to OUT_DIR/load.svg.
# Env: DURATION (10s), ROUNDS (3), CONC (50), THREADS (2), N_RT (2000 refresh tokens in the
#      rotation pool), LOGIN_CONC (10 connections signing in), LOGIN_USERS (32),
#      PEER_DIR (../shared/bench/peer-oidc-provider),
#      AUTHD_PORT (18080), PEER_PORT (18480), CEILING_PORT (18580),
#      AUTHD_BIN (target/release/mcp-authd), OUT_DIR (docs/bench).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONC=${CONC:-50}
THREADS=${THREADS:-2}
AUTHD_PORT=${AUTHD_PORT:-18080}
PEER_PORT=${PEER_PORT:-18480}
CEILING_PORT=${CEILING_PORT:-18580}
PEER_DIR=${PEER_DIR:-$ROOT/../shared/bench/peer-oidc-provider}
OUT_DIR=${OUT_DIR:-$ROOT/docs/bench}
POSTGRES=0; GROWTH=0; PEER=1; BUILD=1
for a in "$@"; do
  case "$a" in
    --postgres) POSTGRES=1 ;;
    --growth) GROWTH=1 ;;
    --no-peer) PEER=0 ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n 2,20p "$0"; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# --- load generator --------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  say "installing wrk (Debian package)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi

# --- build -------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  say "cargo build --release --locked (mcp-authd and bench/ceiling)"
  cargo build --release --locked -p mcp-authd -p mcp-authd-bench-ceiling
fi
BIN=${AUTHD_BIN:-$ROOT/target/release/mcp-authd}
CEILING_BIN=$ROOT/target/release/bench-ceiling
for b in "$BIN" "$CEILING_BIN"; do [ -x "$b" ] || { echo "no $b" >&2; exit 1; }; done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcp-authd-bench.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${PG_STOP:-}" ] && eval "$PG_STOP" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- database ----------------------------------------------------------------------------
STORE=sqlite
if [ "$POSTGRES" = 1 ]; then
  say "throwaway PostgreSQL"
  # shellcheck disable=SC1091
  source "$ROOT/scripts/throwaway-postgres.sh"   # exports TEST_DATABASE_URL, defines stop_throwaway_postgres
  PG_STOP=stop_throwaway_postgres
  export DATABASE_URL="$TEST_DATABASE_URL"
  trap cleanup EXIT                               # the sourced script replaced our trap
  STORE=postgres
fi
A=("$BIN" --data-dir "$WORK/data")
mkdir -p "$WORK/data"
"${A[@]}" migrate >/dev/null

# --- seed --------------------------------------------------------------------------------
say "seeding clients and a person"
# client_credentials needs an MCP server to be for: bound here (open-resource mode).
CC_JSON=$("${A[@]}" clients create --name bench --grant-type client_credentials \
  --resource http://127.0.0.1:9999/mcp --json 2>/dev/null)
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
CC_ID=$(printf '%s' "$CC_JSON" | json_field client_id)
CC_SECRET=$(printf '%s' "$CC_JSON" | json_field client_secret)
CC_BASIC=$(printf '%s:%s' "$CC_ID" "$CC_SECRET" | base64 -w0)
PASSPHRASE='bench passphrase 0123456789'
printf '%s\n' "$PASSPHRASE" | "${A[@]}" users create bench --password-stdin >/dev/null 2>&1
# The sign-in rows rotate over their own people (bench/lua/login.lua says why).
LOGIN_USERS=${LOGIN_USERS:-32}
for i in $(seq 0 $((LOGIN_USERS - 1))); do
  printf '%s\n' "$PASSPHRASE" | "${A[@]}" users create "login-$i" --password-stdin >/dev/null 2>&1
done
# A public client redirecting to https, as hosted MCP clients do: consent for a public client
# redirecting to loopback is never remembered, so the code flow would stop at consent.
PUB_REDIRECT=https://app.bench.example/callback
PUB_ID=$("${A[@]}" clients create --name bench-public --public \
  --redirect-uri "$PUB_REDIRECT" --json 2>/dev/null | json_field client_id)

# --- start the servers ---------------------------------------------------------------------
# Sign-ins come from one address, so the per-network cap on pending requests is off here.
start_authd() {
  say "starting mcp-authd ($STORE) on 127.0.0.1:$AUTHD_PORT"
  MCP_AUTHD_AUTHORIZE__PENDING_PER_IP=0 \
    "${A[@]}" serve --listen "127.0.0.1:$AUTHD_PORT" --issuer "http://127.0.0.1:$AUTHD_PORT" \
    >>"$WORK/authd.log" 2>&1 &
  AUTHD_PID=$!; PIDS+=("$AUTHD_PID")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$AUTHD_PORT/healthz" >/dev/null && break; sleep 0.1; done
}
start_authd
AUTHD_IDLE_RSS=$(awk '/VmRSS/{print $2}' "/proc/$AUTHD_PID/status")

"$CEILING_BIN" "127.0.0.1:$CEILING_PORT" >"$WORK/ceiling.log" 2>&1 &
CEILING_PID=$!; PIDS+=("$CEILING_PID")
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$CEILING_PORT/hello" >/dev/null && break; sleep 0.1; done

if [ "$PEER" = 1 ]; then
  say "starting the peer (node-oidc-provider) on 127.0.0.1:$PEER_PORT"
  cp -r "$PEER_DIR/." "$WORK/peer"
  (cd "$WORK/peer" && npm ci --no-audit --no-fund --silent >/dev/null)
  PEER_PORT=$PEER_PORT node "$WORK/peer/server.mjs" >"$WORK/peer.log" 2>&1 &
  PEER_PID=$!; PIDS+=("$PEER_PID")
  PEER_URL="http://127.0.0.1:$PEER_PORT"
  for _ in $(seq 100); do curl -fs "$PEER_URL/jwks" >/dev/null && break; sleep 0.1; done
  PEER_BASIC=$(printf 'bench:bench-secret-0123456789abcdef0123456789abcdef' | base64 -w0)
fi

# --- measuring -----------------------------------------------------------------------------
RESULTS="$WORK/results.tsv"   # round server endpoint rps p50ms p99ms cpu_ms_per_req rss_mib errors
: >"$RESULTS"
CLK_TCK=$(getconf CLK_TCK)
ROUND=0

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
to_ms() { # wrk latency value (e.g. 812.00us, 1.23ms, 2.01s) -> ms
  awk -v v="$1" 'BEGIN{ n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /m$/) n*=60000; else if (v ~ /s$/) n*=1000; printf "%.2f", n }'
}

# run SERVER PID NAME URL [LUA] [CONNECTIONS]
run() {
  local server=$1 pid=$2 name=$3 url=$4 lua=${5:-} conc=${6:-$CONC}
  local args=(-t"$THREADS" -c"$conc" -d"$DURATION" --latency)
  [ -n "$lua" ] && args+=(-s "$lua")
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true   # reset VmHWM to the current RSS
  local t0; t0=$(cpu_ticks "$pid")
  local out; out=$(wrk "${args[@]}" "$url" 2>&1)
  local t1; t1=$(cpu_ticks "$pid")
  printf '%s\n' "$out" >"$WORK/wrk-$ROUND-$server-$name.txt"
  local reqs rps p50 p99 errs hwm
  reqs=$(printf '%s\n' "$out" | awk '/requests in/{print $1}')
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/{printf "%.0f", $2}')
  p50=$(to_ms "$(printf '%s\n' "$out" | awk '$1=="50%"{print $2}')")
  p99=$(to_ms "$(printf '%s\n' "$out" | awk '$1=="99%"{print $2}')")
  # Errors: socket errors, and non-2xx answers, or for the flows (whose expected answers
  # are redirects) the answers their script did not expect.
  errs=$(printf '%s\n' "$out" | awk '/Unexpected responses/{u=$3; flow=1} /Non-2xx/{x+=$NF}
    /Socket errors/{gsub(",",""); s+=$4+$6+$8+$10} END{print s + (flow ? u : x)}')
  hwm=$(awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$pid/status")
  local cpu; cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN{ if (n>0) printf "%.3f", d*1000/hz/n; else print "-" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$server" "$name" "$rps" "$p50" "$p99" "$cpu" "$hwm" "$errs" >>"$RESULTS"
  local detail; detail=$(printf '%s\n' "$out" | sed -n 's/^Unexpected responses: [0-9]* //p')
  printf '   %-9s %-31s %8s rps  p50 %6s ms  p99 %6s ms  cpu %s ms/req  rss %s MiB  errors %s %s\n' \
    "$server" "$name" "$rps" "$p50" "$p99" "$cpu" "$hwm" "$errs" "$detail" >&2
}

post_lua() { # FILE BODY [BASIC]
  {
    printf 'wrk.method = "POST"\nwrk.body = "%s"\n' "$2"
    printf 'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
    [ -z "${3:-}" ] || printf 'wrk.headers["Authorization"] = "Basic %s"\n' "$3"
  } >"$1"
}

AU="http://127.0.0.1:$AUTHD_PORT"
post_lua "$WORK/cc.lua" "grant_type=client_credentials" "$CC_BASIC"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $CC_BASIC" -d grant_type=client_credentials "$AU/token")
[ "$code" = 200 ] || { echo "client_credentials smoke test: HTTP $code" >&2; cat "$WORK/authd.log" >&2; exit 1; }
AT=$(curl -s -H "Authorization: Basic $CC_BASIC" -d grant_type=client_credentials "$AU/token" | json_field access_token)
post_lua "$WORK/intro.lua" "token=$AT" "$CC_BASIC"
post_lua "$WORK/sign.lua" ""
CT=$(curl -s -X POST "http://127.0.0.1:$CEILING_PORT/sign" | json_field access_token)
post_lua "$WORK/verify.lua" "$CT"
if [ "$PEER" = 1 ]; then
  post_lua "$WORK/pcc.lua" "grant_type=client_credentials&scope=read" "$PEER_BASIC"
  PAT=$(curl -s -H "Authorization: Basic $PEER_BASIC" \
    -d 'grant_type=client_credentials&scope=read&resource=urn%3Apeer%3Aopaque' "$PEER_URL/token" \
    | json_field access_token)
  post_lua "$WORK/pintro.lua" "token=$PAT" "$PEER_BASIC"
fi

# Code, refresh and sign-in flows: sign in once over HTTP (consent remembered), collect
# refresh tokens for the rotation pool.
say "seeding the code and refresh flows"
FLOWS=0
if python3 "$ROOT/bench/seed_flows.py" "$AU" "$PUB_ID" "$PUB_REDIRECT" bench "$PASSPHRASE" "${N_RT:-2000}" "$WORK"; then
  # shellcheck disable=SC1091
  set -a; source "$WORK/flow.env"; set +a
  export CLIENT_ID="$PUB_ID" WRK_THREADS="$THREADS" RT_FILE="$WORK/refresh_tokens" ISSUER="$AU" BENCH_LUA="$ROOT/bench/lua"
  export LOGIN_PASSWORD="${PASSPHRASE// /+}" LOGIN_USERS
  FLOWS=1
else
  say "seeding the code flow failed: code, refresh and sign-in rows left out"
fi

# One round of mcp-authd's rows, as SERVER (mcp-authd, or grown after --growth).
measure_authd() {
  local server=$1
  run "$server" "$AUTHD_PID" client_credentials "$AU/token" "$WORK/cc.lua"
  run "$server" "$AUTHD_PID" metadata "$AU/.well-known/oauth-authorization-server"
  run "$server" "$AUTHD_PID" jwks "$AU/jwks.json"
  run "$server" "$AUTHD_PID" introspection "$AU/introspect" "$WORK/intro.lua"
  [ "$FLOWS" = 1 ] || return 0
  run "$server" "$AUTHD_PID" refresh_rotation "$AU" "$ROOT/bench/lua/refresh.lua"
  run "$server" "$AUTHD_PID" authorize+code_exchange "$AU" "$ROOT/bench/lua/code-flow.lua"
  run "$server" "$AUTHD_PID" "password_login (page+sign-in)" "$AU" "$ROOT/bench/lua/login.lua" "${LOGIN_CONC:-10}"
  # client_credentials again while sign-ins run beside it, to compare its p99.
  wrk -t1 -c"${LOGIN_CONC:-10}" -d"$DURATION" -s "$ROOT/bench/lua/login.lua" "$AU" >"$WORK/wrk-login-burst.txt" 2>&1 &
  local burst=$!
  sleep 0.5
  run "$server" "$AUTHD_PID" client_credentials_during_logins "$AU/token" "$WORK/cc.lua"
  sed -i '$ s/^\(\([^\t]*\t\)\{6\}\)[^\t]*/\1-/' "$RESULTS"   # CPU/req: logins share the process
  wait "$burst" || true
  say "sign-ins beside it: $(awk '/Requests\/sec/{printf "%.0f requests/s", $2} /Unexpected/{sub(/.*Unexpected responses: /, ""); printf ", unexpected answers: %s", $0}' "$WORK/wrk-login-burst.txt")"
}

measure_peer() {
  [ "$PEER" = 1 ] || return 0
  run peer "$PEER_PID" client_credentials "$PEER_URL/token" "$WORK/pcc.lua"
  run peer "$PEER_PID" metadata "$PEER_URL/.well-known/openid-configuration"
  run peer "$PEER_PID" jwks "$PEER_URL/jwks"
  run peer "$PEER_PID" introspection "$PEER_URL/token/introspection" "$WORK/pintro.lua"
}

# The ceilings: what axum alone serves, and one ES256 signature or verification a request.
measure_ceiling() {
  local cu="http://127.0.0.1:$CEILING_PORT"
  run ceiling "$CEILING_PID" hello_world "$cu/hello"
  run ceiling "$CEILING_PID" one_signature "$cu/sign" "$WORK/sign.lua"
  run ceiling "$CEILING_PID" one_verification "$cu/verify" "$WORK/verify.lua"
}

for ROUND in $(seq "$ROUNDS"); do
  say "round $ROUND of $ROUNDS ($DURATION a row, concurrency $CONC)"
  measure_authd mcp-authd
  measure_peer
  measure_ceiling
done

# Growth: the same rows with 1,000,000 live refresh tokens and 100,000 clients stored.
if [ "$GROWTH" = 1 ]; then
  say "stopping mcp-authd to seed the growth dataset"
  kill "$AUTHD_PID"; wait "$AUTHD_PID" 2>/dev/null || true
  if [ "$STORE" = postgres ]; then
    python3 "$ROOT/bench/seed_growth.py" --postgres "$DATABASE_URL"
    # As autovacuum would have by the time a database grew this big.
    psql -q "$DATABASE_URL" -c 'VACUUM ANALYZE' >/dev/null
  else
    python3 "$ROOT/bench/seed_growth.py" --sqlite "$WORK/data/mcp-authd.db"
  fi
  start_authd
  # The sweeps run once at start (then hourly) and scan every refresh token: let them finish.
  sleep "${GROWTH_SETTLE:-10}"
  for ROUND in $(seq "$ROUNDS"); do
    say "grown round $ROUND of $ROUNDS"
    measure_authd grown
    measure_ceiling
  done
fi

# --- report --------------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
META="$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uptime | sed 's/.*load average/load average/'), store $STORE, wrk -t$THREADS -c$CONC -d$DURATION, median of $ROUNDS rounds, mcp-authd idle RSS $(awk -v k="$AUTHD_IDLE_RSS" 'BEGIN{printf "%.1f", k/1024}') MiB"
cp "$RESULTS" "$OUT_DIR/load-results.tsv"
python3 "$ROOT/bench/report.py" "$RESULTS" "$OUT_DIR/load-table.md" "$OUT_DIR/load.svg" "$META"
cat "$OUT_DIR/load-table.md"
say "mcp-authd log: $(grep -c 'database is locked' "$WORK/authd.log" || true) 'database is locked', $(grep -c ' ERROR ' "$WORK/authd.log" || true) ERROR lines; the commonest warnings:"
grep -E ' (WARN|ERROR) ' "$WORK/authd.log" | sed -E 's/^[^ ]+ +//; s/request_id=[A-Za-z0-9]+ //' | sort | uniq -c | sort -rn | head -5 >&2 || true
say "chart: $OUT_DIR/load.svg"
