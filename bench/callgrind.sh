#!/usr/bin/env bash
# Instructions per request for one path, counted by callgrind: repeatable for the same binary
# and inputs whatever else the machine is doing, so a change to the request path can be
# measured on a busy machine. Starts the release binary under valgrind on a fresh SQLite
# data directory, sends WARMUP then REQUESTS keep-alive GETs from one connection, and prints
# the instructions per request of the second batch and the heaviest functions (inclusive).
# Usage: bench/callgrind.sh [PATH] (default the RFC 8414 metadata); needs valgrind and a
# release build (cargo build --release).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
URL_PATH=${1:-/.well-known/oauth-authorization-server}
WARMUP=${WARMUP:-500}
REQUESTS=${REQUESTS:-2000}
PORT=${PORT:-18190}
BIN=$ROOT/target/release/mcp-authd
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind not found (Debian package valgrind)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/mcp-authd-callgrind.XXXXXX)
"$BIN" --data-dir "$WORK/data" migrate >/dev/null
valgrind --tool=callgrind --callgrind-out-file="$WORK/out.%p" \
  "$BIN" --data-dir "$WORK/data" serve --listen "127.0.0.1:$PORT" --issuer "http://127.0.0.1:$PORT" \
  >"$WORK/log" 2>&1 & PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.2; done
send() {
  python3 - "$PORT" "$URL_PATH" "$1" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
PY
}
send "$WARMUP"
callgrind_control -z "$PID" >/dev/null
send "$REQUESTS"
callgrind_control -d "$PID" >/dev/null
DUMP=$(ls -t "$WORK"/out.* | head -1)
TOTAL=$(callgrind_annotate "$DUMP" | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}')
echo "$URL_PATH: $((TOTAL / REQUESTS)) instructions per request ($REQUESTS requests after $WARMUP)"
callgrind_annotate --inclusive=yes "$DUMP" 2>/dev/null | sed -n '/file:function/,$p' | head -"${TOP:-60}" |
  awk -v n="$REQUESTS" 'NR>1 && $1 ~ /^[0-9,]+/ {v=$1; gsub(",","",v); $1=""; $2=""; printf "%8d %s\n", v/n, $0}'
