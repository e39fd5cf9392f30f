// Test support: a cookie jar around Node's fetch (a browser's cookie handling, reduced to what
// the BFF and the dev AS use) and a scripted login at the dev AS. Everything talks to the live
// stack named by BFF_URL (started by tests/e2e/test_bff_client_package.py).
import assert from 'node:assert/strict';

import { BffClient } from '../index.js';

export const BFF_URL = process.env.BFF_URL ?? '';
assert.ok(BFF_URL, 'BFF_URL is set by the Python test that starts the stack');

/** One browser profile: cookies per origin, shared by the "tabs" (clients) made from it. */
export class Browser {
  constructor() {
    /** @type {Map<string, Map<string, string>>} */
    this.cookies = new Map();
    /** @type {{method: string, path: string, status: number}[]} */
    this.calls = [];
    /** @type {((url: URL, init: RequestInit) => Response | undefined) | null} */
    this.intercept = null;
  }

  /** fetch with this profile's cookies; requests to the BFF carry its Origin, as a page's would. */
  fetch = async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const jar = this.cookies.get(url.origin) ?? new Map();
    const headers = new Headers(init.headers);
    if (jar.size) headers.set('Cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    if (url.origin === new URL(BFF_URL).origin) headers.set('Origin', url.origin);
    const method = (init.method ?? 'GET').toUpperCase();
    const faked = this.intercept?.(url, init);
    const response = faked ?? await fetch(url, { ...init, headers, redirect: 'manual' });
    this.calls.push({ method, path: url.pathname, status: response.status });
    for (const line of response.headers.getSetCookie?.() ?? []) this.#store(url.origin, line);
    return response;
  };

  #store(origin, line) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const jar = this.cookies.get(origin) ?? new Map();
    this.cookies.set(origin, jar);
    const gone = attrs.some((a) => /^\s*max-age\s*=\s*(0|-)/i.test(a)) ||
      attrs.some((a) => /^\s*expires\s*=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now());
    if (gone) jar.delete(name);
    else jar.set(name, value);
  }

  count(method, path) {
    return this.calls.filter((c) => c.method === method && c.path === path).length;
  }

  /** A tab: a client of the BFF using this profile. */
  tab(options = {}) {
    return new BffClient({ baseUrl: BFF_URL, fetch: this.fetch, channel: false, ...options });
  }
}

/** Through the dev AS's login and consent pages; returns the redirect back to the app. */
export async function authorize(browser, authorizationUrl) {
  let url = authorizationUrl;
  for (let i = 0; i < 20; i++) {
    if (url.startsWith(BFF_URL)) return url;
    const page = await browser.fetch(url);
    if (page.status === 302 || page.status === 303) {
      url = new URL(page.headers.get('location'), url).href;
      continue;
    }
    const html = await page.text();
    assert.equal(page.status, 200, html.slice(0, 300));
    const form = html.match(/<form[^>]*action="([^"]+)"/);
    assert.ok(form, `no form on the AS page: ${html.slice(0, 300)}`);
    const action = new URL(form[1].replaceAll('&amp;', '&'), url).href;
    const fields = html.includes('name="login"')
      ? { prompt: 'login', login: 'alice', password: 'anything' }
      : { prompt: 'consent' };
    const posted = await browser.fetch(action, { method: 'POST', body: new URLSearchParams(fields) });
    assert.ok([302, 303].includes(posted.status), `AS answered ${posted.status}`);
    url = new URL(posted.headers.get('location'), action).href;
  }
  throw new Error('the login did not finish');
}

/** Sign in with `tab`; returns the authorization response URL it finished. */
export async function signIn(browser, tab, returnTo = '/accounts') {
  const authorizationUrl = await tab.login({ returnTo, navigate: false });
  const back = await authorize(browser, authorizationUrl);
  const result = await tab.handlePageLoad({ url: back });
  assert.deepEqual(result, { handled: true, isLoggedIn: true, returnTo });
  return back;
}
