#!/usr/bin/env bash
# The long fault runs, bounded in time, loopback only (the quick ones run in `cargo test`,
# tests/it/faults.rs):
#   1. every fault test on SQLite, with FAULT_ROUNDS kill -9 rounds under code exchanges
#      and refreshes (restart, then: refresh tokens work, codes never redeem twice, access
#      tokens verify, signing key unchanged);
#   2. the same on a throwaway PostgreSQL (scripts/throwaway-postgres.sh), including the
#      database cut off and stalled by a table lock while serving;
#   3. a real PostgreSQL restart (pg_ctl stop -m fast, then start) under a running
#      mcp-authd: requests fail fast with 503 JSON, /readyz is 503, and service resumes
#      without restarting mcp-authd.
#
#   bash scripts/faults.sh                 # FAULT_ROUNDS=5, at most FAULTS_TIMEOUT=900 s
#
# Must run as root (PostgreSQL runs as the postgres user); installs Debian's postgresql
# when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export FAULT_ROUNDS=${FAULT_ROUNDS:-5}
FAULTS_TIMEOUT=${FAULTS_TIMEOUT:-900}

if [ -z "${FAULTS_INNER:-}" ]; then
  FAULTS_INNER=1 exec timeout --kill-after=10 "$FAULTS_TIMEOUT" bash "$0" "$@"
fi

fail() { echo "FAIL: $*" >&2; exit 1; }

run_fault_tests() { # backend
  local log; log=$(mktemp)
  if cargo test -q --test it faults:: -- --nocapture --test-threads 2 >"$log" 2>&1; then
    grep -E "kill -9 round|skipped|test result" "$log" | sed 's/^/   /'
    rm -f "$log"
  else
    grep -E "panicked|FAILED|^test " -A8 "$log" | head -60 >&2
    rm -f "$log"
    fail "fault tests on $1"
  fi
}

echo "== fault tests on SQLite ($FAULT_ROUNDS kill -9 rounds)"
run_fault_tests SQLite

# shellcheck source=throwaway-postgres.sh
source scripts/throwaway-postgres.sh
echo "== fault tests on PostgreSQL ($FAULT_ROUNDS kill -9 rounds)"
run_fault_tests PostgreSQL

echo "== PostgreSQL restarted under a running mcp-authd"
cargo build -q
BIN=$PWD/target/debug/mcp-authd
WORK=$(mktemp -d /tmp/mcp-authd-faults.XXXXXX)
SERVER_PID=""
cleanup_faults() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
  stop_throwaway_postgres
}
trap cleanup_faults EXIT

DB_NAME=faults_$$
psql_admin() { su postgres -s /bin/sh -c "'$PG_BIN/psql' -h '$PG_DIR' -p $PG_PORT -d postgres -qAt -c \"$1\""; }
psql_admin "CREATE DATABASE $DB_NAME" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB_NAME"
APP_PORT=$(( 20000 + RANDOM % 30000 ))
BASE="http://127.0.0.1:$APP_PORT"
export MCP_AUTHD_ISSUER=$BASE MCP_AUTHD_LISTEN=127.0.0.1:$APP_PORT
export MCP_AUTHD_KEYS__ENCRYPTION_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
CLIENT=$("$BIN" --data-dir "$WORK" clients create --name faults --grant-type client_credentials --json 2>/dev/null)
CLIENT_ID=$(jq -r .client_id <<<"$CLIENT")
CLIENT_SECRET=$(jq -r .client_secret <<<"$CLIENT")
"$BIN" --data-dir "$WORK" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -fs -o /dev/null "$BASE/readyz" && break; sleep 0.1; done
token() { curl -s --max-time 20 -o "$WORK/token.json" -w '%{http_code} %{time_total}' -u "$CLIENT_ID:$CLIENT_SECRET" \
  "$BASE/token" -d grant_type=client_credentials; }
read -r status _ <<<"$(token)"
[ "$status" = 200 ] || fail "client_credentials before the restart: $status $(cat "$WORK/token.json")"

pg_ctl_as_postgres() { su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' $1" >/dev/null; }
pg_ctl_as_postgres "-m fast -w stop"
echo "   PostgreSQL stopped"
read -r status took <<<"$(token)"
[ "$status" = 503 ] || fail "with PostgreSQL down /token answered $status"
[ "$(jq -r .error "$WORK/token.json")" = temporarily_unavailable ] || fail "503 body: $(cat "$WORK/token.json")"
awk -v t="$took" 'BEGIN { exit !(t < 7) }' || fail "/token took ${took}s with the database down"
echo "ok   /token: 503 temporarily_unavailable in ${took}s"
read -r status took < <(curl -s --max-time 20 -o /dev/null -w '%{http_code} %{time_total}\n' "$BASE/readyz")
[ "$status" = 503 ] || fail "/readyz answered $status"
echo "ok   /readyz: 503 in ${took}s"
read -r status < <(curl -s --max-time 20 -o "$WORK/page.html" -w '%{http_code}\n' "$BASE/authorize?client_id=$CLIENT_ID&response_type=code")
[ "$status" = 503 ] && grep -q "<html" "$WORK/page.html" || fail "/authorize answered $status"
echo "ok   /authorize: a 503 page"

pg_ctl_as_postgres "-l '$PG_DIR/server.log' -w -t 60 start -o \"-c listen_addresses=127.0.0.1 -p $PG_PORT -k '$PG_DIR' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400\""
echo "   PostgreSQL started again"
resumed=""
for _ in $(seq 1 60); do
  read -r status _ <<<"$(token)"
  if [ "$status" = 200 ]; then resumed=1; break; fi
  sleep 0.25
done
[ -n "$resumed" ] || fail "service did not resume within 15 s"
curl -fs -o /dev/null "$BASE/readyz" || fail "/readyz after the restart"
echo "ok   service resumed without restarting mcp-authd"
kill -0 "$SERVER_PID" || fail "mcp-authd died"
grep -q panicked "$WORK/server.log" && fail "a panic in the log"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "mcp-authd did not exit 0 on SIGTERM"
SERVER_PID=""
echo "faults: all checks passed"
