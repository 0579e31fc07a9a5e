#!/usr/bin/env bash
# Load benchmark: mcp-authd beside the peer (node-oidc-provider, ../shared/bench), same run,
# same machine, loopback, wrk at concurrency 50 for DURATION (default 10 s) per endpoint.
#
#   bench/load.sh [--postgres] [--no-peer] [--no-build]
#
# Prints one table (rps, p50, p99, server CPU per request, peak RSS, ratio to the peer) and
# writes it to docs/bench/load-table.md and docs/bench/load.svg.
# Env: DURATION (10s), CONC (50), THREADS (2), PEER_DIR (../shared/bench/peer-oidc-provider),
#      AUTHD_PORT (18080), AUTHD_BIN (target/release/mcp-authd), PEER_PORT (18480), OUT_DIR (docs/bench).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${DURATION:-10s}
CONC=${CONC:-50}
THREADS=${THREADS:-2}
AUTHD_PORT=${AUTHD_PORT:-18080}
PEER_PORT=${PEER_PORT:-18480}
PEER_DIR=${PEER_DIR:-$ROOT/../shared/bench/peer-oidc-provider}
OUT_DIR=${OUT_DIR:-$ROOT/docs/bench}
POSTGRES=0; PEER=1; BUILD=1
for a in "$@"; do
  case "$a" in
    --postgres) POSTGRES=1 ;;
    --no-peer) PEER=0 ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
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
  say "cargo build --release --locked"
  cargo build --release --locked
fi
BIN=${AUTHD_BIN:-$ROOT/target/release/mcp-authd}
[ -x "$BIN" ] || { echo "no $BIN" >&2; exit 1; }

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
say "seeding clients"
# client_credentials needs an MCP server to be for: bound here (open-resource mode).
CC_JSON=$("${A[@]}" clients create --name bench --grant-type client_credentials \
  --resource http://127.0.0.1:9999/mcp --json 2>/dev/null)
CC_ID=$(printf '%s' "$CC_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
CC_SECRET=$(printf '%s' "$CC_JSON" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
CC_BASIC=$(printf '%s:%s' "$CC_ID" "$CC_SECRET" | base64 -w0)
printf '%s\n' 'bench passphrase 0123456789' | "${A[@]}" users create bench --password-stdin >/dev/null 2>&1
PUB_ID=$("${A[@]}" clients create --name bench-public --public \
  --redirect-uri http://127.0.0.1:9999/callback --json 2>/dev/null \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')

# --- start mcp-authd -----------------------------------------------------------------------
say "starting mcp-authd ($STORE) on 127.0.0.1:$AUTHD_PORT"
"${A[@]}" serve --listen "127.0.0.1:$AUTHD_PORT" --issuer "http://127.0.0.1:$AUTHD_PORT" \
  >"$WORK/authd.log" 2>&1 &
AUTHD_PID=$!; PIDS+=("$AUTHD_PID")
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$AUTHD_PORT/healthz" >/dev/null && break; sleep 0.1; done
AUTHD_IDLE_RSS=$(awk '/VmRSS/{print $2}' "/proc/$AUTHD_PID/status")

# --- start the peer ------------------------------------------------------------------------
if [ "$PEER" = 1 ]; then
  say "starting the peer (node-oidc-provider) on 127.0.0.1:$PEER_PORT"
  cp -r "$PEER_DIR/." "$WORK/peer"
  (cd "$WORK/peer" && npm ci --no-audit --no-fund --silent >/dev/null)
  PEER_PORT=$PEER_PORT node "$WORK/peer/server.mjs" >"$WORK/peer.log" 2>&1 &
  PEER_PID=$!; PIDS+=("$PEER_PID")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PEER_PORT/jwks" >/dev/null && break; sleep 0.1; done
  PEER_BASIC=$(printf 'bench:bench-secret-0123456789abcdef0123456789abcdef' | base64 -w0)
fi

# --- measuring -----------------------------------------------------------------------------
RESULTS="$WORK/results.tsv"   # server endpoint rps p50ms p99ms cpu_ms_per_req rss_mib errors
: >"$RESULTS"
CLK_TCK=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
to_ms() { # wrk latency value (e.g. 812.00us, 1.23ms, 2.01s) -> ms
  awk -v v="$1" 'BEGIN{ n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /m$/) n*=60000; else if (v ~ /s$/) n*=1000; printf "%.2f", n }'
}

# run SERVER PID NAME URL [LUA]
run() {
  local server=$1 pid=$2 name=$3 url=$4 lua=${5:-}
  local args=(-t"$THREADS" -c"$CONC" -d"$DURATION" --latency)
  [ -n "$lua" ] && args+=(-s "$lua")
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true   # reset VmHWM to the current RSS
  local t0; t0=$(cpu_ticks "$pid")
  local out; out=$(wrk "${args[@]}" "$url" 2>&1)
  local t1; t1=$(cpu_ticks "$pid")
  printf '%s\n' "$out" >"$WORK/wrk-$server-$name.txt"
  local reqs rps p50 p99 errs hwm
  reqs=$(printf '%s\n' "$out" | awk '/requests in/{print $1}')
  rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/{printf "%.0f", $2}')
  p50=$(to_ms "$(printf '%s\n' "$out" | awk '$1=="50%"{print $2}')")
  p99=$(to_ms "$(printf '%s\n' "$out" | awk '$1=="99%"{print $2}')")
  errs=$(printf '%s\n' "$out" | awk '/Non-2xx/{n+=$NF} /Socket errors/{gsub(",","");n+=$4+$6+$8+$10} END{print n+0}')
  hwm=$(awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$pid/status")
  local cpu; cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN{ if (n>0) printf "%.3f", d*1000/hz/n; else print "-" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$name" "$rps" "$p50" "$p99" "$cpu" "$hwm" "$errs" >>"$RESULTS"
  printf '   %-8s %-22s %8s rps  p50 %6s ms  p99 %6s ms  cpu %s ms/req  rss %s MiB  errors %s\n' \
    "$server" "$name" "$rps" "$p50" "$p99" "$cpu" "$hwm" "$errs" >&2
}

post_lua() { # FILE BODY BASIC
  cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $3"
EOF
}

AU="http://127.0.0.1:$AUTHD_PORT"
say "measuring mcp-authd ($DURATION per endpoint, concurrency $CONC)"
post_lua "$WORK/cc.lua" "grant_type=client_credentials" "$CC_BASIC"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $CC_BASIC" -d grant_type=client_credentials "$AU/token")
[ "$code" = 200 ] || { echo "client_credentials smoke test: HTTP $code" >&2; cat "$WORK/authd.log" >&2; exit 1; }
run mcp-authd "$AUTHD_PID" client_credentials "$AU/token" "$WORK/cc.lua"
run mcp-authd "$AUTHD_PID" metadata "$AU/.well-known/oauth-authorization-server"
run mcp-authd "$AUTHD_PID" jwks "$AU/jwks.json"
# Code and refresh flows: sign in once over HTTP (consent remembered), collect refresh tokens.
N_RT=${N_RT:-200}
if python3 "$ROOT/bench/seed_flows.py" "$AU" "$PUB_ID" bench 'bench passphrase 0123456789' "$N_RT" "$WORK"; then
  # shellcheck disable=SC1091
  set -a; source "$WORK/flow.env"; set +a
  export CLIENT_ID="$PUB_ID" WRK_THREADS="$THREADS" RT_FILE="$WORK/refresh_tokens"
  run mcp-authd "$AUTHD_PID" refresh_rotation "$AU" "$ROOT/bench/lua/refresh.lua"
  run mcp-authd "$AUTHD_PID" authorize+code_exchange "$AU" "$ROOT/bench/lua/code-flow.lua"
else
  say "seeding the code flow failed: code and refresh rows left out"
fi
if curl -s -o /dev/null -w '%{http_code}' -X POST "$AU/introspect" | grep -qv 404; then
  AT=$(curl -s -H "Authorization: Basic $CC_BASIC" -d grant_type=client_credentials "$AU/token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  post_lua "$WORK/intro.lua" "token=$AT" "$CC_BASIC"
  run mcp-authd "$AUTHD_PID" introspection "$AU/introspect" "$WORK/intro.lua"
else
  say "no POST /introspect on this build: introspection row left out"
fi

# Password logins: POST /login with the sign-in form of one browser (argon2id per request).
# Then client_credentials again while a login burst runs beside it, to compare its p99.
LOGIN_PAGE=$(curl -s -c "$WORK/jar" "$AU/authorize?response_type=code&client_id=$PUB_ID&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcallback&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=bench")
CSRF=$(printf '%s' "$LOGIN_PAGE" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
REQ=$(printf '%s' "$LOGIN_PAGE" | sed -n 's/.*name="request" value="\([^"]*\)".*/\1/p')
BROWSER=$(awk '$6 == "mcp_authd_browser" {print $7}' "$WORK/jar")
LOGIN_BODY="csrf=$CSRF&request=$REQ&username=bench&password=bench+passphrase+0123456789"
cat >"$WORK/login.lua" <<EOF
wrk.method = "POST"
wrk.body = "$LOGIN_BODY"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Origin"] = "$AU"
wrk.headers["Cookie"] = "mcp_authd_browser=$BROWSER"
EOF
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Origin: $AU" -H "Cookie: mcp_authd_browser=$BROWSER" \
  --data "$LOGIN_BODY" "$AU/login")
if [ "$code" = 303 ]; then
  run mcp-authd "$AUTHD_PID" password_login "$AU/login" "$WORK/login.lua"
  LOGIN_CONC=${LOGIN_CONC:-10}
  wrk -t1 -c"$LOGIN_CONC" -d"$DURATION" -s "$WORK/login.lua" "$AU/login" >"$WORK/wrk-login-burst.txt" 2>&1 &
  BURST=$!
  sleep 0.5
  run mcp-authd "$AUTHD_PID" client_credentials_during_logins "$AU/token" "$WORK/cc.lua"
  sed -i '$ s/^\(\([^\t]*\t\)\{5\}\)[^\t]*/\1-/' "$RESULTS"   # CPU/req: logins share the process
  wait "$BURST" || true
  say "logins beside it: $(awk '/Requests\/sec/{printf "%.0f/s", $2}' "$WORK/wrk-login-burst.txt") at concurrency $LOGIN_CONC"
else
  say "sign-in smoke test: HTTP $code: login rows left out"
fi

if [ "$PEER" = 1 ]; then
  PU="http://127.0.0.1:$PEER_PORT"
  say "measuring the peer"
  post_lua "$WORK/pcc.lua" "grant_type=client_credentials&scope=read" "$PEER_BASIC"
  run peer "$PEER_PID" client_credentials "$PU/token" "$WORK/pcc.lua"
  run peer "$PEER_PID" metadata "$PU/.well-known/openid-configuration"
  run peer "$PEER_PID" jwks "$PU/jwks"
  PAT=$(curl -s -H "Authorization: Basic $PEER_BASIC" \
    -d 'grant_type=client_credentials&scope=read&resource=urn%3Apeer%3Aopaque' "$PU/token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  post_lua "$WORK/pintro.lua" "token=$PAT" "$PEER_BASIC"
  run peer "$PEER_PID" introspection "$PU/token/introspection" "$WORK/pintro.lua"
fi

# --- report --------------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
META="$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uptime | sed 's/.*load average/load average/'), store $STORE, wrk -t$THREADS -c$CONC -d$DURATION, mcp-authd idle RSS $(awk -v k="$AUTHD_IDLE_RSS" 'BEGIN{printf "%.1f", k/1024}') MiB"
python3 "$ROOT/bench/report.py" "$RESULTS" "$OUT_DIR/load-table.md" "$OUT_DIR/load.svg" "$META"
cat "$OUT_DIR/load-table.md"
say "mcp-authd log: $(grep -c 'database is locked' "$WORK/authd.log" || true) 'database is locked', $(grep -c ' ERROR ' "$WORK/authd.log" || true) ERROR lines"
say "chart: $OUT_DIR/load.svg"
