// The OpenID Connect walk with panva's openid-client as a relying party: discovery from
// /.well-known/openid-configuration, the code flow with PKCE, state, nonce and RFC 8707
// resource, the ID token validated by openid-client (signature from jwks_uri, iss, aud,
// exp, nonce, at_hash), userinfo, and a refresh that brings a fresh ID token.
//
// Run by examples/mcp-server/tests/e2e/oidc_clients.rs, which starts mcp-authd and the
// example MCP server, registers a confidential client and passes everything in the
// environment. Prints one JSON report on stdout.
import * as oidc from 'openid-client';
import { env, signInAndApprove } from './person.mjs';

const ISSUER = env('E2E_ISSUER');
const MCP_URL = env('E2E_MCP_URL');
const REDIRECT_URI = env('E2E_REDIRECT_URI');
const person = { issuer: ISSUER, username: env('E2E_USERNAME'), password: env('E2E_PASSWORD') };

// The issuer is http on loopback, which openid-client refuses unless told.
const config = await oidc.discovery(
  new URL(ISSUER),
  env('E2E_CLIENT_ID'),
  undefined,
  oidc.ClientSecretBasic(env('E2E_CLIENT_SECRET')),
  { execute: [oidc.allowInsecureRequests], algorithm: 'oidc' },
);

const codeVerifier = oidc.randomPKCECodeVerifier();
const nonce = oidc.randomNonce();
const state = oidc.randomState();
const authorizationUrl = oidc.buildAuthorizationUrl(config, {
  redirect_uri: REDIRECT_URI,
  scope: 'openid profile email mcp:tools',
  code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
  code_challenge_method: 'S256',
  nonce,
  state,
  resource: MCP_URL,
});
const { callback, consentPage } = await signInAndApprove(authorizationUrl, person);

// openid-client checks state, iss (RFC 9207), the code exchange, and the ID token.
const tokens = await oidc.authorizationCodeGrant(
  config,
  callback,
  { pkceCodeVerifier: codeVerifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true },
  { resource: MCP_URL },
);
const claims = tokens.claims();
const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token, { resource: MCP_URL });

process.stdout.write(
  `${JSON.stringify({
    discovered_issuer: config.serverMetadata().issuer,
    nonce,
    consent_mentions_email: consentPage.includes('Your email address'),
    id_token: tokens.id_token,
    access_token: tokens.access_token,
    scope: tokens.scope,
    claims,
    userinfo,
    refreshed_id_token: refreshed.id_token,
    refreshed_claims: refreshed.claims(),
  })}\n`,
);
