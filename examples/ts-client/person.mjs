// A person at a browser for the end-to-end walks: a cookie jar, no automatic redirects, and
// the one thing they do — sign in to mcp-authd and approve the client on its consent page.
// Shared by walk.mjs (the MCP TypeScript SDK) and oidc.mjs (openid-client).

/** Reads a required environment variable. */
export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

/** A browser with a cookie jar that never follows redirects by itself. */
export class Browser {
  jar = new Map();

  async go(url, init = {}) {
    const headers = new Headers(init.headers ?? {});
    if (this.jar.size) {
      headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair.indexOf('=');
      this.jar.set(pair.slice(0, at).trim(), pair.slice(at + 1));
    }
    return response;
  }

  post(url, fields) {
    return this.go(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

const hidden = (html, name) => {
  const match = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!match) throw new Error(`no hidden ${name} in the page`);
  return match[1].replaceAll('&amp;', '&');
};

const expectStatus = (response, status, what) => {
  if (response.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${response.status} from ${response.url}`);
  }
};

/**
 * Opens `authorizationUrl`, signs in to `issuer` as `username` and approves; returns the URL
 * mcp-authd redirects back to and the HTML of the two pages on the way.
 */
export async function signInAndApprove(authorizationUrl, { issuer, username, password }) {
  const browser = new Browser();
  const login = await browser.go(authorizationUrl);
  expectStatus(login, 200, 'the login page');
  const loginPage = await login.text();
  const fields = { csrf: hidden(loginPage, 'csrf'), username, password };
  if (loginPage.includes('name="request"')) fields.request = hidden(loginPage, 'request');
  const signedIn = await browser.post(`${issuer}/login`, fields);
  expectStatus(signedIn, 303, 'signing in');
  const consent = await browser.go(new URL(signedIn.headers.get('location'), issuer));
  expectStatus(consent, 200, 'the consent page');
  const consentPage = await consent.text();
  const approved = await browser.post(`${issuer}/consent`, {
    csrf: hidden(consentPage, 'csrf'),
    request: hidden(consentPage, 'request'),
    decision: 'approve',
  });
  expectStatus(approved, 303, 'approving');
  return { callback: new URL(approved.headers.get('location')), loginPage, consentPage };
}
