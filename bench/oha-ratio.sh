#!/usr/bin/env bash
# Metadata and JWKS against the axum hello-world (bench/ceiling) with oha, the load tool
# issue 18 measured its targets with, and with wrk (bench/load.sh's) in the same minutes,
# alternating, ROUNDS rounds of DURATION_S seconds a row at 50 connections. oha is not a
# Debian package: `cargo install oha` puts it in ~/.cargo/bin. Needs the release binaries
# (bench/load.sh builds them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-2}
DURATION_S=${DURATION_S:-10}
OHA=${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
BIN=$ROOT/target/release/mcp-authd
CEILING=$ROOT/target/release/bench-ceiling
[ -x "$OHA" ] || { echo "oha not found: cargo install oha" >&2; exit 2; }
[ -x "$BIN" ] && [ -x "$CEILING" ] || { echo "build first: bench/load.sh (or cargo build --release -p mcp-authd -p mcp-authd-bench-ceiling)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/mcp-authd-oha.XXXXXX)
"$CEILING" 127.0.0.1:18590 >/dev/null 2>&1 & CEILING_PID=$!
"$BIN" --data-dir "$WORK/data" migrate >/dev/null
"$BIN" --data-dir "$WORK/data" serve --listen 127.0.0.1:18090 --issuer http://127.0.0.1:18090 >"$WORK/log" 2>&1 & AUTHD_PID=$!
trap 'kill $AUTHD_PID $CEILING_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:18090/healthz && break; sleep 0.2; done
with_oha() {
  "$OHA" -z "${DURATION_S}s" -c 50 --no-tui --output-format json "$1" 2>/dev/null |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)["summary"]["requestsPerSec"]))'
}
with_wrk() { wrk -t2 -c50 -d"${DURATION_S}s" "$1" | awk '/Requests\/sec/{printf "%d\n", $2}'; }
for round in $(seq "$ROUNDS"); do
  for tool in oha wrk; do
    metadata=$("with_$tool" http://127.0.0.1:18090/.well-known/oauth-authorization-server)
    jwks=$("with_$tool" http://127.0.0.1:18090/jwks.json)
    hello=$("with_$tool" http://127.0.0.1:18590/hello)
    python3 -c "print(f'round $round $tool: metadata $metadata, jwks $jwks, hello-world $hello rps: {$metadata/$hello:.0%} / {$jwks/$hello:.0%} of hello-world')"
  done
done
