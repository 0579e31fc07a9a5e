#!/usr/bin/env bash
# The upstream OpenID provider of the federation integration tests (tests/it/upstream.rs):
# node-oidc-provider at the version tests/upstream/package-lock.json pins, installed into
# tests/upstream/node_modules and reinstalled only when the lock file changes. Installs
# Debian's nodejs and npm only if no npm is on the machine. Runs from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "== installing npm from Debian"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

stamp=tests/upstream/node_modules/.ci-lock
if ! cmp -s tests/upstream/package-lock.json "$stamp"; then
  echo "== npm ci (tests/upstream)"
  (cd tests/upstream && npm ci --no-audit --no-fund)
  cp tests/upstream/package-lock.json "$stamp"
fi
