#!/usr/bin/env bash
# Checks the Dockerfile's runtime stage without a Docker engine: assembles its filesystem
# from Debian packages (debootstrap of bookworm, the release of debian:bookworm-slim, with
# ca-certificates), applies the stage's steps (the mcp-authd user with uid 10001, /data
# owned by it, the release binary in /usr/local/bin, WORKDIR /app, the ENV), and runs the
# binary inside as that user (unshare + chroot) with the root filesystem read-only and only
# /data writable, in its own network namespace so it can listen on 0.0.0.0:8080 as in the
# image. Checks: `serve` becomes ready, `healthcheck` (the HEALTHCHECK command) exits 0,
# the CLI works beside the server, nothing outside /data is writable, the process runs as
# uid 10001, SIGTERM exits 0, and `healthcheck` fails once the server is gone.
#
#   bash scripts/container-check.sh        # builds target/release/mcp-authd if needed
#
# Needs root, debootstrap (installed from Debian when missing) and the Debian mirror
# (DEBIAN_MIRROR, default http://deb.debian.org/debian) the first time: the bootstrapped
# tree is kept in .tools/container/ (git-ignored) and reused. Bounded: every wait has a
# deadline.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=$PWD/.tools/container/$SUITE-minbase
BIN=${CONTAINER_BINARY:-$PWD/target/release/mcp-authd}

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok   $*"; }

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap, chroot, unshare)"
for tool in unshare chroot ip curl jq; do command -v "$tool" >/dev/null || fail "$tool is missing"; done
grep -q '^FROM debian:bookworm-slim AS runtime' Dockerfile || fail "the Dockerfile's runtime stage is no longer debian:bookworm-slim: update SUITE here"

if [ -z "${CONTAINER_BINARY:-}" ]; then
  echo "== cargo build --release --locked"
  cargo build --release --locked -q
fi
[ -x "$BIN" ] || fail "no binary at $BIN"

if [ ! -f "$CACHE/.complete" ]; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  echo "== debootstrap $SUITE (minbase + ca-certificates) into $CACHE"
  rm -rf "$CACHE"; mkdir -p "$CACHE"
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$CACHE" "$MIRROR" >"$CACHE.log" 2>&1 \
    || { tail -20 "$CACHE.log" >&2; fail "debootstrap"; }
  rm -rf "$CACHE/var/cache/apt/archives/"*.deb "$CACHE/var/lib/apt/lists/"*
  touch "$CACHE/.complete"
fi

WORK=$(mktemp -d /tmp/mcp-authd-container.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOTFS=$WORK/rootfs
echo "== assembling the runtime stage in $ROOTFS"
cp -a "$CACHE" "$ROOTFS"
rm -f "$ROOTFS/.complete"
# The runtime stage's RUN step.
chroot "$ROOTFS" useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin mcp-authd
mkdir -p "$ROOTFS/data" "$ROOTFS/app/config"
chown 10001:10001 "$ROOTFS/data"
# COPY --from=build.
install -m 0755 "$BIN" "$ROOTFS/usr/local/bin/mcp-authd"
[ -s "$ROOTFS/etc/ssl/certs/ca-certificates.crt" ] || fail "no CA certificates in the image"
du -sh "$ROOTFS" | awk '{print "   image filesystem: " $1}'

# The rest runs in fresh mount, network and PID namespaces; the image's root is read-only
# and /data is a volume.
export ROOTFS WORK
unshare --mount --net --pid --fork --kill-child bash -s <<'INNER'
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok   $*"; }
ip link set lo up
mount --make-rprivate /
MNT=$WORK/mnt
mkdir -p "$MNT"
mount --bind "$ROOTFS" "$MNT"
mount -o remount,bind,ro "$MNT"
# The volume: like Docker, a fresh /data that starts with the image's /data ownership.
mkdir -p "$WORK/volume"
chown --reference="$ROOTFS/data" "$WORK/volume"
mount --bind "$WORK/volume" "$MNT/data"
mount --rbind /dev "$MNT/dev"
mount -t proc proc "$MNT/proc"
mount -t tmpfs -o size=1m tmpfs "$MNT/run"
# The image's ENV, USER and WORKDIR; nothing from this shell's environment.
in_image() {
  chroot --userspec=10001:10001 "$MNT" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    MCP_AUTHD_LISTEN=0.0.0.0:8080 MCP_AUTHD_DATA_DIR=/data \
    /bin/sh -c 'cd /app && exec "$@"' sh "$@"
}

in_image mcp-authd serve >"$WORK/server.log" 2>&1 &
SERVER=$!
healthy=""
for _ in $(seq 1 100); do
  if in_image mcp-authd healthcheck 2>/dev/null; then healthy=1; break; fi
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/server.log" >&2; fail "serve exited"; }
  sleep 0.1
done
[ -n "$healthy" ] || { cat "$WORK/server.log" >&2; fail "healthcheck did not pass within 10 s"; }
pass "serve is up and the HEALTHCHECK command (mcp-authd healthcheck) exits 0"

[ "$(curl -fsS --max-time 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/readyz)" = 200 ] || fail "/readyz"
issuer=$(curl -fsS --max-time 5 http://127.0.0.1:8080/.well-known/oauth-authorization-server | jq -r .issuer)
[ "$issuer" = "http://127.0.0.1:8080" ] || fail "metadata issuer $issuer"
pass "/readyz 200 and the metadata on 0.0.0.0:8080"

# $MNT/proc is this PID namespace's; $SERVER is the shell that execs chroot, env, sh and
# finally the server.
SERVER_PID=""
for proc in "$MNT"/proc/[0-9]*; do
  if [ "$(cat "$proc/comm" 2>/dev/null)" = mcp-authd ] && tr '\0' ' ' <"$proc/cmdline" | grep -q ' serve'; then
    SERVER_PID=${proc##*/}
  fi
done
[ -n "$SERVER_PID" ] || fail "no server process"
uid=$(awk '/^Uid:/ {print $2}' "$MNT/proc/$SERVER_PID/status")
[ "$uid" = 10001 ] || fail "the server runs as uid $uid"
pass "the server runs as uid 10001 (mcp-authd)"

printf 'container passphrase\n' | in_image mcp-authd users create alice --password-stdin >/dev/null 2>&1 \
  || fail "users create beside the running server"
in_image mcp-authd users list --json | jq -e '.[0].username == "alice"' >/dev/null || fail "users list"
pass "the CLI works beside the server on /data"

for path in /app/probe /tmp/probe /usr/local/bin/probe /probe; do
  if in_image sh -c "echo x > $path" 2>/dev/null; then fail "$path is writable"; fi
done
owners=$(find "$MNT/data" -mindepth 1 -printf '%U:%G %p\n' | awk '{print $1}' | sort -u | tr '\n' ' ')
[ "$owners" = "10001:10001 " ] || fail "files in /data owned by $owners"
ls "$MNT/data" | grep -q '^mcp-authd.db$' || fail "no database in /data"
ls "$MNT/data" | grep -q '^key-encryption.key$' || fail "no generated key file in /data"
pass "only /data is written (database, key file, owned by mcp-authd)"

kill -TERM "$SERVER_PID"
status=0
wait "$SERVER" || status=$?
[ "$status" = 0 ] || { cat "$WORK/server.log" >&2; fail "SIGTERM: exit status $status"; }
grep -q '"stopped"\|stopped' "$WORK/server.log" || fail "no clean stop in the log"
pass "SIGTERM stops it with exit status 0"
if in_image mcp-authd healthcheck 2>/dev/null; then fail "healthcheck passes with no server"; fi
pass "healthcheck fails once the server is gone"
INNER
echo "container-check: all checks passed"
