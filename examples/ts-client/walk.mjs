// The end-to-end walk with the MCP TypeScript SDK: its StreamableHTTPClientTransport and its
// OAuth flow (discovery, dynamic registration, PKCE, token exchange, refresh), with the
// browser part (login and consent pages) played by person.mjs.
//
// Run by examples/mcp-server/tests/e2e/ts_client.rs, which starts mcp-authd and the example
// MCP server and passes their URLs in the environment. Prints one JSON report on stdout.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { env, signInAndApprove } from './person.mjs';

const MCP_URL = env('E2E_MCP_URL');
const ISSUER = env('E2E_ISSUER');
const USERNAME = env('E2E_USERNAME');
const PASSWORD = env('E2E_PASSWORD');
const REDIRECT_URI = env('E2E_REDIRECT_URI');
const TTL_SECONDS = Number(env('E2E_ACCESS_TOKEN_TTL'));

/** The SDK's OAuthClientProvider, kept in memory. */
class Provider {
  client = undefined;
  stored = undefined;
  verifier = undefined;
  authorizationUrl = undefined;
  callback = undefined;

  get redirectUrl() {
    return REDIRECT_URI;
  }

  get clientMetadata() {
    return {
      client_name: 'MCP TypeScript SDK end-to-end client',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(information) {
    this.client = information;
  }

  tokens() {
    return this.stored;
  }

  saveTokens(tokens) {
    this.stored = tokens;
  }

  async redirectToAuthorization(url) {
    this.authorizationUrl = url;
    const person = { issuer: ISSUER, username: USERNAME, password: PASSWORD };
    this.callback = (await signInAndApprove(url, person)).callback;
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    return this.verifier;
  }
}

const newClient = () => new Client({ name: 'mcp-authd-e2e', version: '1.0.0' });
const transportFor = (provider) =>
  new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider });
const whoami = async (client) => {
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  if (result.isError) throw new Error(`whoami failed: ${JSON.stringify(result)}`);
  return JSON.parse(result.content[0].text);
};

const provider = new Provider();
// 1. The first connection gets 401; the SDK discovers, registers and sends the person to
//    the authorization URL (our provider walks the pages right there).
let transport = transportFor(provider);
try {
  await newClient().connect(transport);
  throw new Error('connected without a token');
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
}
if (!provider.callback) throw new Error('the SDK never asked for authorization');
if (provider.callback.searchParams.get('iss') !== ISSUER) {
  throw new Error(`the redirect's iss is not the issuer: ${provider.callback}`);
}
// 2. The code comes back; the SDK exchanges it.
await transport.finishAuth(provider.callback.searchParams.get('code'));
const first = provider.tokens();

// 3. Connect with the token, list tools, call the tool.
const client = newClient();
await client.connect(transportFor(provider));
const tools = await client.listTools();
const before = await whoami(client);

// 4. The access token expires; the server's 401 makes the SDK refresh and retry.
await new Promise((resolve) => setTimeout(resolve, (TTL_SECONDS + 1) * 1000));
const after = await whoami(client);
const second = provider.tokens();
await client.close();

const authorization = Object.fromEntries(provider.authorizationUrl.searchParams);
process.stdout.write(
  `${JSON.stringify({
    client_id: provider.client.client_id,
    authorization,
    tools: tools.tools.map((tool) => tool.name),
    before,
    after,
    first_access_token: first.access_token,
    first_refresh_token: first.refresh_token,
    second_access_token: second.access_token,
    second_refresh_token: second.refresh_token,
  })}\n`,
);
