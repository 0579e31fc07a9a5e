#!/usr/bin/env bash
# Long runs of the property tests (proptest) that fuzz the protocol parsers, bounded in time:
#   1. the unit properties (`mod properties` in src/: form parameters, scopes, resources,
#      the form and JSON extractors, Basic credentials, registration metadata, redirect URI
#      matching);
#   2. the HTTP fuzzing of /token, /register and /authorize against the real server
#      (tests/it/fuzz.rs) on SQLite, and with --postgres on a throwaway PostgreSQL too
#      (scripts/throwaway-postgres.sh; needs root).
# `cargo test` runs the same tests with few cases; this runs FUZZ_CASES per property.
#
#   bash scripts/fuzz.sh                  # FUZZ_CASES=5000, at most FUZZ_TIMEOUT=600 s
#   bash scripts/fuzz.sh --postgres       # the HTTP fuzzing on PostgreSQL as well
#
# A failure prints the shrunk input; make it a regular test beside the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_CASES=${FUZZ_CASES:-5000}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-600}

if [ -z "${FUZZ_INNER:-}" ]; then
  started=$(date +%s)
  status=0
  FUZZ_INNER=1 timeout --kill-after=10 "$FUZZ_TIMEOUT" bash "$0" "$@" || status=$?
  took=$(( $(date +%s) - started ))
  case $status in
    0) echo "fuzz: PASS ($FUZZ_CASES cases per property, ${took}s)" ;;
    124 | 137) echo "fuzz: FAIL: not done within FUZZ_TIMEOUT=${FUZZ_TIMEOUT}s" >&2 ;;
    *) echo "fuzz: FAIL after ${took}s" >&2 ;;
  esac
  exit "$status"
fi

postgres=""
for arg in "$@"; do
  case $arg in
    --postgres) postgres=1 ;;
    *) echo "usage: scripts/fuzz.sh [--postgres]" >&2; exit 2 ;;
  esac
done

export PROPTEST_CASES=$FUZZ_CASES
fail() { echo "FAIL: $*" >&2; exit 1; }

# Runs `cargo test ARGS`, then prints one line per passed target with its case count.
run() { # label, cargo test arguments...
  local label=$1 log started
  shift
  log=$(mktemp)
  started=$(date +%s)
  echo "== $label"
  if cargo test --locked "$@" -- --nocapture >"$log" 2>&1; then
    # Unit properties: one line per test; HTTP targets print their own count.
    grep -E '^test .*properties::.* \.\.\. ok$' "$log" \
      | sed -E "s/^test (.*) \.\.\. ok$/ok   \1: $FUZZ_CASES cases/" || true
    grep -E '^fuzz ' "$log" | sed 's/^fuzz /ok   /' || true
    grep -E '^test result' "$log" | sed "s/^/     /; s/\$/ (wall $(( $(date +%s) - started ))s)/"
    rm -f "$log"
  else
    grep -E 'panicked|Test failed|minimal failing input|FAILED|^error' -A12 "$log" | cut -c1-400 | head -80 >&2
    rm -f "$log"
    fail "$label"
  fi
}

cargo build --locked --tests -q
run "unit properties" --lib properties::
run "HTTP fuzzing on SQLite" --test it fuzz::

if [ -n "$postgres" ]; then
  # shellcheck source=throwaway-postgres.sh
  source scripts/throwaway-postgres.sh
  run "HTTP fuzzing on PostgreSQL" --test it fuzz::
fi
