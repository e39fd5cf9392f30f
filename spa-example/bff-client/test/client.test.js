// The client against a live BFF, dev AS and example API (see test/support.js).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import * as sdk from '../index.js';
import { BffClient, BffError, StepUpRequired, isKnownErrorCode, readError } from '../index.js';
import { BFF_URL, Browser, authorize, signIn } from './support.js';

/** A promise with a deadline (a ref'd timer, so the test waits for an unref'd channel). */
function within(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms); });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const PAYMENT = { fromAccount: 'acc-1', toName: 'Bob', toIban: 'DE44500105175407324931', amount: '1.00', currency: 'EUR' };

test('the version is the package version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(sdk.VERSION, pkg.version);
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), [], 'no runtime dependencies');
});

test('handlePageLoad without an authorization response sends nothing', async () => {
  const browser = new Browser();
  const tab = browser.tab();
  for (const url of [`${BFF_URL}/`, `${BFF_URL}/accounts?tab=2`, `${BFF_URL}/?code=x`, `${BFF_URL}/?state=y`]) {
    assert.deepEqual(await tab.handlePageLoad({ url }), { handled: false });
  }
  assert.equal(browser.calls.length, 0);
});

test('StrictMode-like double handlePageLoad finishes the login once', async () => {
  const browser = new Browser();
  const tab = browser.tab();
  const back = await authorize(browser, await tab.login({ returnTo: '/accounts', navigate: false }));
  // what StrictMode does in development: the effect runs twice, concurrently, and again later
  const [first, second] = await Promise.all([tab.handlePageLoad({ url: back }), tab.handlePageLoad({ url: back })]);
  const third = await browser.tab().handlePageLoad({ url: back });
  for (const result of [first, second, third]) assert.deepEqual(result, { handled: true, isLoggedIn: true, returnTo: '/accounts' });
  assert.equal(browser.count('POST', '/bff/login/end'), 1);
  const me = await tab.session();
  assert.ok(me.isLoggedIn);
  assert.equal(typeof me.claims.sub, 'string');
  assert.ok(me.expiresAt * 1000 > Date.now(), 'expiresAt is in seconds since the epoch');
});

test('one refresh for N parallel 401s without a session, none again right after', async () => {
  const browser = new Browser();
  const tab = browser.tab();
  const answers = await Promise.all(Array.from({ length: 10 }, () => tab.fetchApi('/api/accounts')));
  assert.deepEqual(answers.map((r) => r.status), Array(10).fill(401));
  assert.equal(browser.count('POST', '/bff/refresh'), 1);
  assert.equal((await tab.fetchApi('/api/accounts')).status, 401);
  assert.equal(browser.count('POST', '/bff/refresh'), 1, 'a 401 right after a refuted refresh shares it');
});

test('one refresh for N parallel 401s with a session, then every call repeated once', async () => {
  const browser = new Browser();
  const tab = browser.tab();
  await signIn(browser, tab);
  // the API stops accepting the current access token: its first answers are 401
  let rejections = 10;
  browser.intercept = (url) => (url.pathname === '/api/accounts' && rejections-- > 0
    ? Response.json({ error: 'invalid_token', error_description: 'expired' }, { status: 401 }) : undefined);
  const answers = await Promise.all(Array.from({ length: 10 }, () => tab.fetchApi('/api/accounts')));
  assert.deepEqual(answers.map((r) => r.status), Array(10).fill(200));
  assert.equal(browser.count('POST', '/bff/refresh'), 1);
  assert.equal(browser.calls.find((c) => c.path === '/bff/refresh')?.status, 200, 'the refresh was real');
  assert.equal(browser.count('GET', '/api/accounts'), 20);
});

test('an aborted request rejects like fetch, not as a network error', async () => {
  const browser = new Browser();
  const tab = browser.tab();
  await signIn(browser, tab);
  const controller = new AbortController();
  const pending = tab.fetchApi('/api/slow?ms=3000', { signal: controller.signal });
  setTimeout(() => controller.abort(), 100);
  await assert.rejects(pending, (err) => !(err instanceof BffError) && err.name === 'AbortError');
  const gone = AbortSignal.abort(new DOMException('left the page', 'AbortError'));
  await assert.rejects(tab.fetchApi('/api/accounts', { signal: gone }), { name: 'AbortError', message: 'left the page' });
});

test('a request with no answer in time fails as timeout', async () => {
  const browser = new Browser();
  const tab = browser.tab({ timeoutMs: 300 });
  await signIn(browser, tab);
  const started = Date.now();
  await assert.rejects(tab.fetchApi('/api/slow?ms=3000'), (err) => err instanceof BffError && err.code === 'timeout' && err.status === 0);
  assert.ok(Date.now() - started < 2000);
  const nowhere = new BffClient({ baseUrl: 'http://127.0.0.1:9', channel: false });
  await assert.rejects(nowhere.session(), { code: 'network_error', status: 0 });
});

test('URL and Request arguments work like fetch, with the CSRF header', async () => {
  const browser = new Browser();
  const tab = browser.tab();
  await signIn(browser, tab);
  assert.equal((await tab.fetchApi(new URL('/api/accounts', BFF_URL))).status, 200);
  const request = new Request(`${BFF_URL}/api/payments`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(PAYMENT) });
  const paid = await tab.fetchApi(request);
  assert.equal(paid.status, 201, await paid.clone().text());
  assert.equal((await tab.fetchApi('/api/accounts', { method: 'HEAD' })).ok, true);
});

test('CSRF recovery: after another tab signs out and in, a payment still goes through once', async () => {
  const browser = new Browser();
  const a = browser.tab();
  const b = browser.tab();
  await signIn(browser, a);
  assert.equal((await a.fetchApi('/api/payments', { method: 'POST', body: JSON.stringify(PAYMENT) })).status, 201);
  await b.session();
  await b.logout({ navigate: false });
  await signIn(browser, b);
  const before = browser.count('POST', '/api/payments');
  const paid = await a.fetchApi('/api/payments', { method: 'POST', body: JSON.stringify(PAYMENT) });
  assert.equal(paid.status, 201);
  assert.deepEqual(browser.calls.filter((c) => c.path === '/api/payments').slice(before).map((c) => c.status), [403, 201]);
  assert.equal(browser.count('GET', '/bff/session'), 2, "tab b's own read plus one recovery in tab a");
});

test('session-expired when the session ends elsewhere; signed-out across tabs', async () => {
  const browser = new Browser();
  const a = browser.tab({ channel: 'test-cross-tab' });
  const b = browser.tab({ channel: 'test-cross-tab' });
  try {
    await signIn(browser, a);
    /** @type {string[]} */
    const seen = [];
    a.on('signed-out', (e) => seen.push(`signed-out:${e.source}`));
    a.on('session-expired', (e) => seen.push(`session-expired:${e.source}`));
    await b.session();
    const told = new Promise((resolve) => a.on('signed-out', resolve));
    await b.logout({ navigate: false });
    await within(told, 3000, 'the other tab was told');
    assert.deepEqual(seen, ['signed-out:other-tab']);

    // a tab that does not hear of it: its next call finds the session gone
    const c = browser.tab();
    await signIn(browser, c);
    const events = [];
    c.on('session-expired', (e) => events.push(e));
    const d = browser.tab();
    await d.session();
    await d.logout({ navigate: false });
    assert.equal((await c.fetchApi('/api/accounts')).status, 401);
    assert.deepEqual(events, [{ type: 'session-expired', source: 'this-tab' }]);
  } finally {
    a.close();
    b.close();
  }
});

test('error codes from the BFF are typed; API codes pass through', async () => {
  const browser = new Browser();
  const tab = browser.tab();
  const response = await tab.fetchApi('/api/accounts');
  const error = await readError(response);
  assert.equal(error.code, 'session_required');
  assert.ok(isKnownErrorCode(error.code));
  assert.equal(await response.json().then((b) => b.error), 'session_required', 'readError left the body readable');
  await signIn(browser, tab);
  const bad = await tab.fetchApi('/api/payments', { method: 'POST', body: JSON.stringify({ ...PAYMENT, amount: '-1' }) });
  const apiError = await readError(bad);
  assert.equal(apiError.code, 'invalid_payment');
  assert.equal(isKnownErrorCode(apiError.code), false);
  await assert.rejects(tab.handlePageLoad({ url: `${BFF_URL}/?code=c&state=forged&iss=x` }), (err) => err instanceof BffError && isKnownErrorCode(err.code));
});

test('a payment above the threshold rejects with StepUpRequired; the session stays', async () => {
  const browser = new Browser();
  const tab = browser.tab();
  await signIn(browser, tab);
  const large = { ...PAYMENT, amount: '250.00' };
  await assert.rejects(
    tab.fetchApi('/api/payments', { method: 'POST', body: JSON.stringify(large) }),
    (err) => err instanceof StepUpRequired && err instanceof BffError && err.code === 'step_up_required'
      && err.status === 403 && err.acrValues.join(' ') === 'urn:bff:acr:mfa' && err.maxAge === undefined,
  );
  const url = await tab.login({ acrValues: ['urn:bff:acr:mfa'], returnTo: '/pay', navigate: false });
  assert.ok(new URL(url).searchParams.get('request_uri'), 'a pushed authorization request');
  assert.equal((await tab.session()).isLoggedIn, true);
  const small = await tab.fetchApi('/api/payments', { method: 'POST', body: JSON.stringify({ ...PAYMENT, amount: '1.00' }) });
  assert.equal(small.status, 201);
});

test('the README shows each recipe exactly as type-checked', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const name of ['react.tsx', 'vue.ts', 'router-guard.ts']) {
    const recipe = readFileSync(new URL(`../recipes/${name}`, import.meta.url), 'utf8').trimEnd();
    assert.ok(readme.includes(recipe), `README lacks recipes/${name}`);
  }
});
