// Plays the person's browser for scripts/conformance.sh: opens the authorize URL the
// conformance package printed, signs in on mcp-authd's login page, approves on its consent
// page, and follows the final redirect to the package's callback server.
//
// Usage: node browser-login.mjs AUTHORIZE_URL   (env: LOGIN_USERNAME, LOGIN_PASSWORD)
// Needs Node.js 22 (fetch, Headers.getSetCookie). Every request times out after 15 s; at
// most 10 requests are made. Exits 0 once the callback answered 200, 1 otherwise.

const STEP_TIMEOUT_MS = 15_000;
const MAX_STEPS = 10;

const [authorizeUrl] = process.argv.slice(2);
const username = process.env.LOGIN_USERNAME;
const password = process.env.LOGIN_PASSWORD;
if (!authorizeUrl || !username || !password) {
  console.error("usage: LOGIN_USERNAME=… LOGIN_PASSWORD=… node browser-login.mjs AUTHORIZE_URL");
  process.exit(2);
}
const serverOrigin = new URL(authorizeUrl).origin;
const cookies = new Map();

function log(message) {
  console.error(`browser-login: ${message}`);
}

function remember(response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(";");
    const eq = pair.indexOf("=");
    if (eq < 1) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = attributes.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
    if (expired) cookies.delete(name);
    else cookies.set(name, value);
  }
}

async function request(url, init = {}) {
  const headers = new Headers(init.headers);
  if (new URL(url).origin === serverOrigin && cookies.size > 0) {
    headers.set("cookie", [...cookies].map(([k, v]) => `${k}=${v}`).join("; "));
  }
  const response = await fetch(url, {
    ...init,
    headers,
    redirect: "manual",
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  remember(response);
  return response;
}

function decodeEntities(text) {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#([0-9]+);/g, (_, dec) => String.fromCodePoint(parseInt(dec, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

function attributes(tag) {
  const found = {};
  for (const m of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*"([^"]*)"/g)) {
    found[m[1].toLowerCase()] = decodeEntities(m[2]);
  }
  return found;
}

// The first form on the page: its action, hidden inputs, input names, and submit buttons.
function parseForm(html) {
  const form = html.match(/<form\b([^>]*)>([\s\S]*?)<\/form>/i);
  if (!form) return null;
  const action = attributes(form[1]).action;
  const hidden = new URLSearchParams();
  const inputs = new Set();
  for (const m of form[2].matchAll(/<input\b[^>]*>/gi)) {
    const a = attributes(m[0]);
    if (!a.name) continue;
    inputs.add(a.name);
    if ((a.type ?? "").toLowerCase() === "hidden") hidden.append(a.name, a.value ?? "");
  }
  const buttons = [...form[2].matchAll(/<button\b[^>]*>/gi)].map((m) => attributes(m[0]));
  return { action, hidden, inputs, buttons };
}

function pageSummary(html) {
  const title = html.match(/<title>([\s\S]*?)<\/title>/i)?.[1]?.trim() ?? "";
  const text = html
    .replace(/<style[\s\S]*?<\/style>/gi, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return `${title}: ${text.slice(0, 300)}`;
}

async function main() {
  let response = await request(authorizeUrl);
  let current = authorizeUrl;
  for (let step = 0; step < MAX_STEPS; step++) {
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      if (!location) throw new Error(`${response.status} without Location from ${current}`);
      const next = new URL(location, current).toString();
      if (new URL(next).origin !== serverOrigin) {
        // The client's redirect URI: the conformance package's callback server.
        log(`redirected to the client: ${next.replace(/code=[^&]+/, "code=…")}`);
        const callback = await request(next);
        if (callback.status !== 200) throw new Error(`callback answered ${callback.status}`);
        log("callback delivered");
        return;
      }
      log(`${response.status} → ${new URL(next).pathname}`);
      current = next;
      response = await request(next);
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) {
      throw new Error(`${current} answered ${response.status}: ${pageSummary(html)}`);
    }
    const form = parseForm(html);
    if (!form?.action) throw new Error(`no form on ${current}: ${pageSummary(html)}`);
    const body = new URLSearchParams(form.hidden);
    if (form.inputs.has("password")) {
      log("signing in");
      body.set("username", username);
      body.set("password", password);
    } else {
      const approve = form.buttons.find((b) => b.value === "approve" && b.name);
      if (!approve) throw new Error(`unexpected form on ${current}: ${pageSummary(html)}`);
      log("approving");
      body.set(approve.name, approve.value);
    }
    current = new URL(form.action, current).toString();
    response = await request(current, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: serverOrigin },
      body: body.toString(),
    });
  }
  throw new Error(`gave up after ${MAX_STEPS} requests`);
}

main().catch((error) => {
  log(`failed: ${error.message}`);
  process.exit(1);
});
