// The upstream OpenID provider of the federation integration tests (tests/it/upstream.rs):
// node-oidc-provider with its own development sign-in and consent pages (devInteractions),
// on loopback only, everything in memory. Test fixture, not project code.
//
// env UPSTREAM_CLIENTS: a JSON array of { client_id, client_secret, redirect_uris } for
// confidential web clients (client_secret_basic, authorization code + refresh token).
//
// Listens on 127.0.0.1, port 0, and prints exactly one line on stdout when ready:
//   {"issuer":"http://127.0.0.1:PORT"}
// Everything else goes to stderr. Exits when stdin closes or on SIGTERM.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

// The ready line is the only thing on stdout: oidc-provider prints its notices with
// console.info, which would otherwise land there.
const ready = process.stdout.write.bind(process.stdout);
console.log = console.error;
console.info = console.error;

const clients = JSON.parse(process.env.UPSTREAM_CLIENTS || '[]').map((client) => ({
  client_id: client.client_id,
  client_secret: client.client_secret,
  redirect_uris: client.redirect_uris,
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}));

// Fresh signing keys at every start (no "development keys" warning).
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwks = {
  keys: [{
    ...privateKey.export({ format: 'jwk' }), kid: `rs256-${crypto.randomUUID()}`, alg: 'RS256', use: 'sig',
  }],
};

// The dev login page's "login" field is the account id, the subject.
async function findAccount(ctx, id) {
  const email = id.includes('@') ? id : `${id}@acme.example`;
  return {
    accountId: id,
    claims: async () => ({
      sub: id,
      email,
      email_verified: !id.startsWith('unverified'),
      name: `Person ${id}`,
      preferred_username: email.split('@')[0],
    }),
  };
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks,
    findAccount,
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    // The scope claims go in the ID token too, not only at the userinfo endpoint.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // Fixed lifetimes, so oidc-provider does not print a notice for each default one.
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      Grant: 86400,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 86400,
      Session: 86400,
    },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: false },
    },
  });
  provider.on('server_error', (ctx, err) => { console.error('upstream server_error', err); });
  server.on('request', provider.callback());
  ready(`${JSON.stringify({ issuer })}\n`);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
