#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on a free loopback port and exports
# TEST_DATABASE_URL for it. Source it: it installs an EXIT trap that stops the cluster
# and deletes its files, also when the caller fails. Installs Debian's postgresql
# package when no initdb is found. Must run as root (it runs the server as `postgres`).
set -euo pipefail

find_pg_bin() {
  local candidate
  for candidate in /usr/lib/postgresql/*/bin; do
    [ -x "$candidate/initdb" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

if ! PG_BIN=$(find_pg_bin); then
  echo "throwaway-postgres: installing the postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  PG_BIN=$(find_pg_bin)
fi
id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres

PG_DIR=$(mktemp -d /tmp/mcp-authd-pg.XXXXXX)
chown postgres:postgres "$PG_DIR"
chmod 700 "$PG_DIR"

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PG_PORT=""
for _ in $(seq 1 50); do
  candidate=$(( 20000 + RANDOM % 30000 ))
  if port_is_free "$candidate"; then PG_PORT=$candidate; break; fi
done
[ -n "$PG_PORT" ] || { echo "throwaway-postgres: no free port found" >&2; exit 1; }

stop_throwaway_postgres() {
  su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap stop_throwaway_postgres EXIT

su postgres -s /bin/sh -c "'$PG_BIN/initdb' -D '$PG_DIR/data' --auth=trust --username=postgres --encoding=UTF8 --no-sync" >/dev/null
su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/server.log' -w -t 60 start \
  -o \"-c listen_addresses=127.0.0.1 -p $PG_PORT -k '$PG_DIR' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400\"" >/dev/null

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
echo "throwaway-postgres: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT" >&2
