// The machine-client walk with the MCP TypeScript SDK: its PrivateKeyJwtProvider gets a
// client_credentials token by signing a private_key_jwt assertion (RFC 7523) with a key
// mcp-authd holds only the public half of, then calls the example MCP server's tool.
//
// Run by examples/mcp-server/tests/e2e/ts_client.rs, which registers the client and passes
// its id, private key (PKCS#8 PEM) and the servers' URLs in the environment. Prints one
// JSON report on stdout.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { env } from './person.mjs';

const provider = new PrivateKeyJwtProvider({
  clientId: env('E2E_CLIENT_ID'),
  privateKey: env('E2E_PRIVATE_KEY_PEM'),
  algorithm: 'ES256',
  expectedIssuer: env('E2E_ISSUER'),
});
const client = new Client({ name: 'mcp-authd-e2e-machine', version: '1.0.0' });
await client.connect(
  new StreamableHTTPClientTransport(new URL(env('E2E_MCP_URL')), { authProvider: provider }),
);
const result = await client.callTool({ name: 'whoami', arguments: {} });
if (result.isError) throw new Error(`whoami failed: ${JSON.stringify(result)}`);
await client.close();
process.stdout.write(
  `${JSON.stringify({
    whoami: JSON.parse(result.content[0].text),
    access_token: provider.tokens().access_token,
  })}\n`,
);
