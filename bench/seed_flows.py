#!/usr/bin/env python3
"""Seeds the code and refresh flows for bench/load.sh over plain HTTP (stdlib only).

usage: seed_flows.py ISSUER CLIENT_ID REDIRECT_URI USERNAME PASSWORD N_REFRESH OUT_DIR

Signs in once through /authorize + /login + consent (as a browser would), so the consent is
remembered (the client must redirect to https: consent for a public client redirecting to
loopback is never remembered); then runs N_REFRESH more authorizations + code exchanges and writes:
  OUT_DIR/refresh_tokens  one refresh token a line
  OUT_DIR/flow.env        COOKIE, AUTH_QUERY, VERIFIER, REDIRECT_URI_ENC for code-flow.lua
"""
import base64
import hashlib
import http.client
import json
import re
import sys
import urllib.parse

issuer, client_id, REDIRECT, username, password, n_refresh, out_dir = sys.argv[1:8]
n_refresh = int(n_refresh)
u = urllib.parse.urlsplit(issuer)
conn = http.client.HTTPConnection(u.hostname, u.port)
cookies = {}
verifier = base64.urlsafe_b64encode(b"bench-verifier-" + b"0" * 40).decode().rstrip("=")
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
query = urllib.parse.urlencode(
    {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "bench",
    }
)


def req(method, path, body=None):
    headers = {"Origin": issuer, "Sec-Fetch-Site": "same-origin", "User-Agent": "bench"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if body is not None:
        body = urllib.parse.urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read().decode("utf-8", "replace")
    for k, v in r.getheaders():
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                cookies[name] = value
            else:
                cookies.pop(name, None)
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def form_fields(html):
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    return action.replace("&amp;", "&"), {k: v.replace("&amp;", "&") for k, v in fields.items()}


def code_from(location):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]


status, headers, html = req("GET", "/authorize?" + query)
assert status == 200, (status, html[:300])
action, fields = form_fields(html)
status, headers, html = req("POST", action, {**fields, "username": username, "password": password})
if status in (302, 303) and "code=" not in headers["location"]:  # on to the consent page
    loc = urllib.parse.urlsplit(headers["location"])
    status, headers, html = req("GET", loc.path + ("?" + loc.query if loc.query else ""))
if status == 200:  # consent page
    action, fields = form_fields(html)
    status, headers, html = req("POST", action, {**fields, "decision": "approve"})
assert status in (302, 303), (status, html[:300])
assert "code=" in headers["location"], headers["location"]
first_code = code_from(headers["location"])


def exchange(code):
    status, _, body = req(
        "POST",
        "/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
        },
    )
    assert status == 200, (status, body)
    return json.loads(body)["refresh_token"]


tokens = [exchange(first_code)]
while len(tokens) < n_refresh:
    status, headers, html = req("GET", "/authorize?" + query)
    assert status in (302, 303), ("consent not remembered?", status, html[:300])
    tokens.append(exchange(code_from(headers["location"])))

with open(f"{out_dir}/refresh_tokens", "w") as f:
    f.write("\n".join(tokens) + "\n")
with open(f"{out_dir}/flow.env", "w") as f:
    f.write(f"COOKIE='{'; '.join(f'{k}={v}' for k, v in cookies.items())}'\n")
    f.write(f"AUTH_QUERY='{query}'\n")
    f.write(f"VERIFIER='{verifier}'\n")
    f.write(f"REDIRECT_URI_ENC='{urllib.parse.quote(REDIRECT, safe='')}'\n")
print(f"seeded {len(tokens)} refresh tokens", file=sys.stderr)
