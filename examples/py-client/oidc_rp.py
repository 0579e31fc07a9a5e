"""The OpenID Connect walk with authlib as a relying party, the way Open WebUI uses it.

authlib's OAuth app is built on the server's /.well-known/openid-configuration (what
``OAuth().register(server_metadata_url=...)`` does in Flask or Starlette), asks for
``openid profile email`` with PKCE S256 and a nonce, redeems the code, validates the ID token
with ``parse_id_token`` (signature from jwks_uri, iss, aud, exp, nonce, at_hash), reads
userinfo and refreshes.

Run by examples/mcp-server/tests/e2e/oidc_clients.rs, which starts mcp-authd and the example
MCP server, registers a confidential client and passes everything in the environment.
Prints one JSON report on stdout.
"""

import json
import os
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session

ISSUER = os.environ["E2E_ISSUER"]
MCP_URL = os.environ["E2E_MCP_URL"]
REDIRECT_URI = os.environ["E2E_REDIRECT_URI"]


class RelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):
    """authlib's framework-independent OAuth 2 + OpenID app over requests."""

    client_cls = OAuth2Session


class NoFramework:
    """Where a web framework would keep tokens; the walk keeps them in variables."""

    def update_token(self, *args, **kwargs):
        pass


def hidden(page, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    if not match:
        raise RuntimeError(f"no hidden {name} in the page")
    return match.group(1).replace("&amp;", "&")


def expect(response, status, what):
    if response.status_code != status:
        raise RuntimeError(f"{what}: expected {status}, got {response.status_code} from {response.url}")


def sign_in_and_approve(authorization_url):
    """A person at a browser: signs in, approves, returns the redirect back to the client."""
    browser = requests.Session()
    login = browser.get(authorization_url, allow_redirects=False)
    expect(login, 200, "the login page")
    fields = {
        "csrf": hidden(login.text, "csrf"),
        "username": os.environ["E2E_USERNAME"],
        "password": os.environ["E2E_PASSWORD"],
    }
    if 'name="request"' in login.text:
        fields["request"] = hidden(login.text, "request")
    signed_in = browser.post(f"{ISSUER}/login", data=fields, allow_redirects=False)
    expect(signed_in, 303, "signing in")
    consent = browser.get(urljoin(ISSUER, signed_in.headers["location"]), allow_redirects=False)
    expect(consent, 200, "the consent page")
    approved = browser.post(
        f"{ISSUER}/consent",
        data={
            "csrf": hidden(consent.text, "csrf"),
            "request": hidden(consent.text, "request"),
            "decision": "approve",
        },
        allow_redirects=False,
    )
    expect(approved, 303, "approving")
    return approved.headers["location"]


def main():
    rp = RelyingParty(
        NoFramework(),
        name="mcp-authd",
        client_id=os.environ["E2E_CLIENT_ID"],
        client_secret=os.environ["E2E_CLIENT_SECRET"],
        server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid profile email mcp:tools",
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_post",
        },
    )
    started = rp.create_authorization_url(REDIRECT_URI, resource=MCP_URL)
    callback = sign_in_and_approve(started["url"])
    # authlib checks the callback's state against the one it made, then redeems the code.
    token = rp.fetch_access_token(
        REDIRECT_URI,
        authorization_response=callback,
        state=started["state"],
        code_verifier=started["code_verifier"],
        resource=MCP_URL,
    )
    claims = rp.parse_id_token(token, nonce=started["nonce"])
    userinfo = rp.userinfo(token=token)
    metadata = rp.load_server_metadata()
    with OAuth2Session(
        os.environ["E2E_CLIENT_ID"],
        os.environ["E2E_CLIENT_SECRET"],
        token_endpoint_auth_method="client_secret_post",
    ) as client:
        refreshed = client.refresh_token(
            metadata["token_endpoint"], refresh_token=token["refresh_token"], resource=MCP_URL
        )
    refreshed_claims = rp.parse_id_token(refreshed, nonce=None)
    print(
        json.dumps(
            {
                "nonce": started["nonce"],
                "iss_in_callback": parse_qs(urlsplit(callback).query).get("iss", [None])[0],
                "id_token": token["id_token"],
                "access_token": token["access_token"],
                "scope": token.get("scope"),
                "claims": dict(claims),
                "userinfo": dict(userinfo),
                "refreshed_id_token": refreshed["id_token"],
                "refreshed_claims": dict(refreshed_claims),
            }
        )
    )


if __name__ == "__main__":
    main()
