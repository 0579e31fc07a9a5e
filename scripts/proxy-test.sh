#!/usr/bin/env bash
# Tests the reverse-proxy snippets of docs/deploy.md (docs/deploy/nginx-*.conf and
# docs/deploy/Caddyfile-*) on loopback: TLS at the proxy with a throwaway self-signed
# certificate, an issuer without and with a path prefix, and through the proxy the
# metadata (also at the path-inserted well-known URL), a sign-in with one wrong password,
# consent, a code exchange and a refresh, `__Host-` cookies, the hidden /metrics, the client
# IP the proxy forwards (audited as the real client, 127.0.0.2) and the request id it passes.
#
#   bash scripts/proxy-test.sh             # nginx and Caddy
#   PROXIES=nginx bash scripts/proxy-test.sh
#
# Installs Debian's nginx-light and caddy when missing (needs root and apt). Bounded: every
# wait has a deadline; everything it starts is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

PROXIES=${PROXIES:-"nginx caddy"}
WORK=$(mktemp -d /tmp/mcp-authd-proxy.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${PROXY_TEST_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok   $*"; }

install_if_missing() { # command package
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "proxy-test: installing $2" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 30000 ))
    if port_is_free "$p"; then echo "$p"; return 0; fi
  done
  fail "no free port"
}

wait_for() { # url [curl args...]
  local url=$1; shift
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$url did not answer within 10 s"
}

echo "== building mcp-authd"
cargo build -q
BIN=$PWD/target/debug/mcp-authd

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# Renders a snippet for loopback: our ports, certificate and upstream.
render_nginx() { # snippet tls_port app_port
  sed -e "s|listen 443 ssl;|listen 127.0.0.1:$2 ssl;|" \
      -e "s|server 127.0.0.1:8080;|server 127.0.0.1:$3;|" \
      -e "s|ssl_certificate .*;|ssl_certificate $WORK/cert.pem;|" \
      -e "s|ssl_certificate_key .*;|ssl_certificate_key $WORK/key.pem;|" "$1"
}
render_caddy() { # snippet tls_port app_port
  printf '{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system %s\n}\n' "$WORK/caddy-storage"
  sed -e "s|^[a-z.]*example.com {|https://127.0.0.1:$2 {\n\ttls $WORK/cert.pem $WORK/key.pem|" \
      -e "s|127.0.0.1:8080|127.0.0.1:$3|g" "$1"
}

start_proxy() { # proxy variant tls_port app_port dir
  local proxy=$1 variant=$2 tls=$3 app=$4 dir=$5
  case $proxy in
    nginx)
      mkdir -p "$dir/nginx/logs"
      {
        echo "error_log $dir/nginx/error.log; pid $dir/nginx/nginx.pid;"
        echo "events {}"
        echo "http {"
        echo "access_log $dir/nginx/access.log;"
        for t in client_body proxy fastcgi uwsgi scgi; do echo "${t}_temp_path $dir/nginx/$t;"; done
        render_nginx "docs/deploy/nginx-$variant.conf" "$tls" "$app"
        echo "}"
      } > "$dir/nginx.conf"
      nginx -t -q -p "$dir/nginx" -c "$dir/nginx.conf" -g "daemon off;" 2>"$dir/nginx-t.log" \
        || { cat "$dir/nginx-t.log" >&2; fail "nginx -t"; }
      nginx -p "$dir/nginx" -c "$dir/nginx.conf" -g "daemon off;" 2>>"$dir/proxy.log" &
      PIDS+=($!)
      ;;
    caddy)
      render_caddy "docs/deploy/Caddyfile-$variant" "$tls" "$app" > "$dir/Caddyfile"
      HOME=$dir XDG_DATA_HOME=$dir XDG_CONFIG_HOME=$dir \
        caddy run --adapter caddyfile --config "$dir/Caddyfile" >>"$dir/proxy.log" 2>&1 &
      PIDS+=($!)
      ;;
  esac
}

hidden() { sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" | head -1; }
location() { tr -d '\r' | sed -n 's/^location: //Ip' | head -1; }
query_param() { sed -n "s/.*[?&]$1=\([^&]*\).*/\1/p"; }
json() { jq -r "$1"; }

run_case() { # proxy variant
  local proxy=$1 variant=$2
  local dir="$WORK/$proxy-$variant"; mkdir -p "$dir"
  local app tls; app=$(free_port); tls=$(free_port)
  local origin="https://127.0.0.1:$tls"
  local issuer=$origin well_known="$origin/.well-known/oauth-authorization-server"
  if [ "$variant" = path ]; then issuer="$origin/auth"; well_known="$origin/.well-known/oauth-authorization-server/auth"; fi
  echo "== $proxy, issuer $issuer"

  export MCP_AUTHD_ISSUER=$issuer MCP_AUTHD_LISTEN=127.0.0.1:$app \
    MCP_AUTHD_HTTP__TRUSTED_PROXIES=127.0.0.1 MCP_AUTHD_LOG__FORMAT=json
  local cli=("$BIN" --data-dir "$dir/data")
  printf 'proxy test passphrase\n' | "${cli[@]}" users create alice --password-stdin >/dev/null 2>&1
  local redirect="http://127.0.0.1:9/callback"
  local client_id
  client_id=$("${cli[@]}" clients create --name "Proxy test" --public --redirect-uri "$redirect" --json 2>/dev/null | json .client_id)
  "${cli[@]}" serve >"$dir/server.log" 2>&1 &
  PIDS+=($!)
  start_proxy "$proxy" "$variant" "$tls" "$app" "$dir"
  local c=(curl -sS --max-time 10 --cacert "$WORK/cert.pem" --interface 127.0.0.2
    -c "$dir/cookies" -b "$dir/cookies")
  wait_for "$issuer/healthz" --cacert "$WORK/cert.pem"

  # Metadata, where RFC 8414 puts it for this issuer; every URL from configuration.
  local meta; meta=$("${c[@]}" -f "$well_known")
  [ "$(json .issuer <<<"$meta")" = "$issuer" ] || fail "metadata issuer: $meta"
  [ "$(json .token_endpoint <<<"$meta")" = "$issuer/token" ] || fail "token_endpoint: $meta"
  if [ "$variant" = path ]; then
    "${c[@]}" -f -o /dev/null "$issuer/.well-known/oauth-authorization-server" || fail "path-appended metadata"
  fi
  pass "metadata at $well_known names issuer $issuer"
  local code; code=$("${c[@]}" -o /dev/null -w '%{http_code}' "$issuer/metrics")
  [ "$code" = 404 ] || fail "/metrics through the proxy answered $code"
  pass "/metrics is not served through the proxy"

  # The browser part: sign-in (a wrong password first), consent.
  local verifier challenge
  verifier=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
  challenge=$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')
  local page
  page=$("${c[@]}" -f -G "$issuer/authorize" --data-urlencode response_type=code \
    --data-urlencode "client_id=$client_id" --data-urlencode "redirect_uri=$redirect" \
    --data-urlencode "code_challenge=$challenge" --data-urlencode code_challenge_method=S256 \
    --data-urlencode state=xyz)
  local csrf request
  csrf=$(hidden csrf <<<"$page"); request=$(hidden request <<<"$page")
  [ -n "$csrf" ] && [ -n "$request" ] || fail "no login form: $page"
  grep -q "__Host-" "$dir/cookies" || fail "cookies are not __Host- prefixed behind https"
  code=$("${c[@]}" -o /dev/null -w '%{http_code}' "$issuer/login" --data-urlencode "csrf=$csrf" \
    --data-urlencode "request=$request" --data-urlencode username=alice --data-urlencode password=wrong)
  [ "$code" = 401 ] || fail "wrong password answered $code"
  local next
  next=$("${c[@]}" -D - -o /dev/null "$issuer/login" --data-urlencode "csrf=$csrf" \
    --data-urlencode "request=$request" --data-urlencode username=alice \
    --data-urlencode "password=proxy test passphrase" | location)
  [[ $next == "$issuer/consent?"* ]] || fail "after sign-in: $next"
  page=$("${c[@]}" -f "$next")
  local answer
  answer=$("${c[@]}" -D - -o /dev/null "$issuer/consent" --data-urlencode "csrf=$(hidden csrf <<<"$page")" \
    --data-urlencode "request=$(hidden request <<<"$page")" --data-urlencode decision=approve | location)
  [[ $answer == "$redirect?"* ]] || fail "after consent: $answer"
  local auth_code; auth_code=$(query_param code <<<"$answer")
  pass "signed in with __Host- cookies and approved through the proxy"

  # The client part: code exchange, refresh.
  local tokens
  tokens=$("${c[@]}" -f "$issuer/token" -d grant_type=authorization_code --data-urlencode "code=$auth_code" \
    --data-urlencode "code_verifier=$verifier" --data-urlencode "redirect_uri=$redirect" \
    --data-urlencode "client_id=$client_id")
  local payload iss
  payload=$(json .access_token <<<"$tokens" | cut -d. -f2 | tr '_-' '/+')
  while [ $(( ${#payload} % 4 )) -ne 0 ]; do payload="$payload="; done
  iss=$(base64 -d <<<"$payload" | json .iss)
  [ "$iss" = "$issuer" ] || fail "access token iss $iss"
  local headers
  headers=$("${c[@]}" -f -D - -o "$dir/refresh.json" "$issuer/token" -d grant_type=refresh_token \
    --data-urlencode "refresh_token=$(json .refresh_token <<<"$tokens")" --data-urlencode "client_id=$client_id")
  [ "$(json .token_type <"$dir/refresh.json")" = Bearer ] || fail "refresh: $(cat "$dir/refresh.json")"
  pass "code exchange and refresh through the proxy; the access token's iss is $issuer"

  # The proxy's view of the client: its address in the audit log, its request id in ours.
  local failed_ip
  failed_ip=$("${cli[@]}" audit --json 2>/dev/null | jq -r '[.[] | select(.kind == "login_failed")][0].ip')
  [ "$failed_ip" = 127.0.0.2 ] || fail "the failed sign-in was audited from $failed_ip, not the client 127.0.0.2"
  local id; id=$(tr -d '\r' <<<"$headers" | sed -n 's/^x-request-id: //Ip' | head -1)
  [ -n "$id" ] || fail "no x-request-id"
  grep -q "\"request_id\":\"$id\"" "$dir/server.log" || fail "request id $id is not in the server log"
  pass "client IP from X-Forwarded-For (trusted proxy) and the proxy's request id $id"
  unset MCP_AUTHD_ISSUER MCP_AUTHD_LISTEN MCP_AUTHD_HTTP__TRUSTED_PROXIES MCP_AUTHD_LOG__FORMAT
}

for proxy in $PROXIES; do
  case $proxy in
    nginx) install_if_missing nginx nginx-light ;;
    caddy) install_if_missing caddy caddy ;;
    *) fail "unknown proxy $proxy" ;;
  esac
  for variant in root path; do run_case "$proxy" "$variant"; done
done
echo "proxy-test: all checks passed ($PROXIES)"
