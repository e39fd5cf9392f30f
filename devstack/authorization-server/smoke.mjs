// End-to-end smoke test of the development authorization server.
//
// Usage: node devstack/authorization-server/smoke.mjs
//
// Starts server.mjs with a generated client key, then drives a full FAPI 2.0
// flow over HTTP (PAR + private_key_jwt + PKCE + DPoP, dev login and consent
// pages, token, userinfo, refresh, revocation, introspection, dev endpoints,
// back-channel logout, dynamic client registration). Prints "SMOKE OK".

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const REDIRECT_URI = 'http://127.0.0.1:5173/';
const RESOURCE = 'http://127.0.0.1:9000/';
const CLIENT_ID = 'bff';

function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

const b64u = (input) => Buffer.from(input).toString('base64url');
const sha256 = (input) => crypto.createHash('sha256').update(input).digest('base64url');

function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
}

function signJwt(header, payload, privateKey) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

function verifyJwt(jwt, jwks) {
  const { header, payload } = decodeJwt(jwt);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert(jwk, `signing key ${header.kid} is in the AS jwks`);
  const [h, p, s] = jwt.split('.');
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  let ok;
  if (header.alg === 'ES256') {
    ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  } else if (header.alg === 'PS256') {
    ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, Buffer.from(s, 'base64url'));
  } else {
    throw new Error(`unexpected alg ${header.alg}`);
  }
  assert(ok, 'JWT signature verifies');
  return payload;
}

const now = () => Math.floor(Date.now() / 1000);

// --- keys -------------------------------------------------------------------

const clientKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const clientPublicJwk = { ...clientKey.publicKey.export({ format: 'jwk' }), kid: 'bff-key-1', alg: 'ES256', use: 'sig' };
const dpopKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const dpopJwk = dpopKey.publicKey.export({ format: 'jwk' });
const dpopJkt = sha256(JSON.stringify({ crv: dpopJwk.crv, kty: dpopJwk.kty, x: dpopJwk.x, y: dpopJwk.y }));

let issuer;
let meta;
let dpopNonce;

function clientAssertion(clientId = CLIENT_ID, key = clientKey.privateKey, kid = clientPublicJwk.kid) {
  return signJwt({ alg: 'ES256', typ: 'JWT', kid }, {
    iss: clientId, sub: clientId, aud: issuer, jti: crypto.randomUUID(), iat: now(), exp: now() + 60,
  }, key);
}

function dpopProof(htm, htu, accessToken) {
  const payload = { htm, htu, iat: now(), jti: crypto.randomUUID() };
  if (dpopNonce) payload.nonce = dpopNonce;
  if (accessToken) payload.ath = sha256(accessToken);
  return signJwt({ alg: 'ES256', typ: 'dpop+jwt', jwk: dpopJwk }, payload, dpopKey.privateKey);
}

function clientAuthParams(clientId, key, kid) {
  return {
    client_id: clientId,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: clientAssertion(clientId, key, kid),
  };
}

// POST a form with private_key_jwt (+ DPoP), retrying once on use_dpop_nonce
// with a fresh assertion and proof.
async function postForm(url, params, {
  dpop = true, clientId = CLIENT_ID, key = clientKey.privateKey, kid = clientPublicJwk.kid,
} = {}) {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    if (dpop) headers.dpop = dpopProof('POST', url);
    const body = new URLSearchParams({ ...params, ...clientAuthParams(clientId, key, kid) });
    const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual' });
    if (res.headers.get('dpop-nonce')) dpopNonce = res.headers.get('dpop-nonce');
    const json = await res.json().catch(() => ({}));
    if (res.status === 400 && json.error === 'use_dpop_nonce' && attempt === 0) continue;
    return { status: res.status, json, headers: res.headers };
  }
  throw new Error('unreachable');
}

// --- cookie jar for the AS (name -> value; paths ignored) --------------------

const jar = new Map();
function storeCookies(res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair, ...attrs] = c.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i).trim();
    const value = pair.slice(i + 1).trim();
    const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || value === '';
    if (expired) jar.delete(name); else jar.set(name, value);
  }
}
const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

async function asRequest(url, init = {}) {
  const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers || {}), cookie: cookieHeader() } });
  storeCookies(res);
  if (process.env.SMOKE_TRACE) {
    const cookies = res.headers.getSetCookie().map((c) => c.split(';').filter((a) => /=|httponly/i.test(a)).map((a, i) => (i === 0 ? a.trim().replace(/=.{12,}$/, '=…') : a.trim())).join('; '));
    console.error(`${init.method || 'GET'} ${url} -> ${res.status} ${res.headers.get('location') || ''}\n  sent cookies: ${[...jar.keys()].join(', ')}\n  set-cookie: ${JSON.stringify(cookies)}`);
  }
  return res;
}

function formAction(html) {
  const m = html.match(/<form[^>]*action="([^"]+)"/);
  assert(m, 'page has a POST form');
  return new URL(m[1].replace(/&amp;/g, '&'), issuer).href;
}

// --- back-channel logout receiver -------------------------------------------

const logoutTokens = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/bff/backchannel-logout') {
      const params = new URLSearchParams(body);
      logoutTokens.push({ contentType: req.headers['content-type'], token: params.get('logout_token') });
      res.writeHead(200, { 'cache-control': 'no-store' });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
});
await new Promise((r) => { receiver.listen(0, '127.0.0.1', r); });
const receiverUrl = `http://127.0.0.1:${receiver.address().port}/bff/backchannel-logout`;

// --- start the server ---------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'as-smoke-'));
const configPath = path.join(tmp, 'config.json');
fs.writeFileSync(configPath, JSON.stringify({
  host: '127.0.0.1',
  port: 0,
  clients: [{
    client_id: CLIENT_ID,
    jwks: { keys: [clientPublicJwk] },
    redirect_uris: [REDIRECT_URI],
    post_logout_redirect_uris: [REDIRECT_URI],
    backchannel_logout_uri: receiverUrl,
  }],
  resource: RESOURCE,
  resourceScopes: 'openid profile email offline_access accounts payments',
  accessTokenTTL: 300,
  refreshTokenTTL: 86400,
  idTokenTTL: 300,
  sessionTTL: 3600,
  registrationInitialAccessToken: 'dev-iat-secret',
}));

const started = process.hrtime.bigint();
const child = spawn(process.execPath, [path.join(here, 'server.mjs'), '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
let stderr = '';
child.stderr.on('data', (d) => { stderr += d; });

function cleanup() {
  if (child.exitCode === null) child.kill('SIGTERM');
  receiver.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}

async function main() {
  const ready = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not print READY within 5 s')), 5000);
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('READY '));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice('READY '.length)));
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited early with ${code}`)));
  });
  const startupMs = Number(process.hrtime.bigint() - started) / 1e6;
  ({ issuer } = ready);
  assert(issuer === `http://127.0.0.1:${ready.port}`, 'issuer matches port');
  console.log(`server READY in ${startupMs.toFixed(0)} ms at ${issuer}`);

  // discovery
  meta = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  assert(meta.issuer === issuer, 'discovery issuer');
  assert(meta.require_pushed_authorization_requests === true, 'PAR required');
  assert(meta.token_endpoint_auth_methods_supported.join() === 'private_key_jwt', 'private_key_jwt only');
  assert(meta.dpop_signing_alg_values_supported.includes('ES256'), 'DPoP ES256');
  assert(meta.authorization_response_iss_parameter_supported === true, 'iss in authorization response');
  assert(meta.backchannel_logout_supported === true, 'backchannel logout');
  assert(!meta.id_token_signing_alg_values_supported.includes('RS256'), 'RS256 disabled');
  const jwks = await (await fetch(meta.jwks_uri)).json();

  // PAR
  const verifier = crypto.randomBytes(32).toString('base64url');
  const state = crypto.randomBytes(16).toString('base64url');
  const nonce = crypto.randomBytes(16).toString('base64url');
  const par = await postForm(meta.pushed_authorization_request_endpoint, {
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email offline_access accounts',
    state,
    nonce,
    code_challenge: sha256(verifier),
    code_challenge_method: 'S256',
    resource: RESOURCE,
    prompt: 'consent',
    dpop_jkt: dpopJkt,
  });
  assert(par.status === 201, `PAR 201 (got ${par.status} ${JSON.stringify(par.json)})`);
  assert(par.json.request_uri?.startsWith('urn:ietf:params:oauth:request_uri:'), 'request_uri');

  // non-PAR authorization request is rejected
  {
    const res = await fetch(`${meta.authorization_endpoint}?${new URLSearchParams({ client_id: CLIENT_ID, response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid' })}`, { redirect: 'manual' });
    const loc = res.headers.get('location') || '';
    assert(res.status === 400 || /error=/.test(loc), 'authorization request without PAR is rejected');
  }

  // authorization endpoint -> dev login -> consent -> redirect_uri
  let res = await asRequest(`${meta.authorization_endpoint}?${new URLSearchParams({ client_id: CLIENT_ID, request_uri: par.json.request_uri })}`);
  assert(res.status === 303, `authorize redirects (got ${res.status})`);
  let location = new URL(res.headers.get('location'), issuer).href;
  assert(/\/interaction\/[^/]+$/.test(new URL(location).pathname), 'redirect to /interaction/:uid');

  res = await asRequest(location);
  let html = await res.text();
  assert(res.status === 200 && html.includes('name="login"'), 'login page');
  assert(!html.includes('fonts.googleapis.com'), 'no external font import');
  res = await asRequest(formAction(html), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ prompt: 'login', login: 'alice', password: 'anything' }),
  });
  assert(res.status === 303, `login submit redirects (got ${res.status})`);
  location = new URL(res.headers.get('location'), issuer).href;

  res = await asRequest(location); // /auth/:uid resume
  assert(res.status === 303, `resume redirects (got ${res.status})`);
  location = new URL(res.headers.get('location'), issuer).href;
  res = await asRequest(location); // consent page
  html = await res.text();
  assert(res.status === 200 && html.includes('name="prompt" value="consent"'), 'consent page');
  res = await asRequest(formAction(html), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ prompt: 'consent' }),
  });
  assert(res.status === 303, `consent submit redirects (got ${res.status})`);
  location = new URL(res.headers.get('location'), issuer).href;
  res = await asRequest(location); // /auth/:uid resume
  assert(res.status === 303, `resume redirects to client (got ${res.status})`);
  const callback = new URL(res.headers.get('location'));
  assert(callback.href.startsWith(REDIRECT_URI), `redirect to redirect_uri (got ${callback.href})`);
  const code = callback.searchParams.get('code');
  assert(code, `code in callback (${callback.search})`);
  assert(callback.searchParams.get('state') === state, 'state echoed');
  assert(callback.searchParams.get('iss') === issuer, 'iss in authorization response');

  // token
  const tok = await postForm(meta.token_endpoint, {
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, resource: RESOURCE,
  });
  assert(tok.status === 200, `token 200 (got ${tok.status} ${JSON.stringify(tok.json)})`);
  assert(tok.json.token_type === 'DPoP', 'token_type DPoP');
  assert(tok.json.id_token && tok.json.refresh_token, 'id_token and refresh_token issued');
  const at = verifyJwt(tok.json.access_token, jwks);
  assert(decodeJwt(tok.json.access_token).header.typ === 'at+jwt', 'access token typ at+jwt');
  assert(at.aud === RESOURCE, `access token aud = resource (got ${JSON.stringify(at.aud)})`);
  assert(at.cnf?.jkt === dpopJkt, 'access token cnf.jkt');
  assert(at.sub === 'alice' && at.client_id === CLIENT_ID, 'access token sub/client_id');
  assert(at.scope.split(' ').includes('accounts'), 'access token has accounts scope');
  const idt = verifyJwt(tok.json.id_token, jwks);
  assert(decodeJwt(tok.json.id_token).header.alg === 'ES256', 'id_token ES256');
  assert(idt.nonce === nonce && idt.sub === 'alice' && idt.aud === CLIENT_ID && idt.sid, 'id_token claims');
  assert(idt.name === 'Alice Example' && idt.email === 'alice@example.com', 'id_token profile/email claims');

  // the JWT access token is for the API, not for userinfo
  {
    const r = await fetch(meta.userinfo_endpoint, { headers: { authorization: `DPoP ${tok.json.access_token}`, dpop: dpopProof('GET', meta.userinfo_endpoint, tok.json.access_token) } });
    assert(r.status === 401, `userinfo rejects resource-bound JWT (got ${r.status})`);
  }

  // refresh without resource -> opaque token usable at userinfo
  const ref1 = await postForm(meta.token_endpoint, { grant_type: 'refresh_token', refresh_token: tok.json.refresh_token });
  assert(ref1.status === 200, `refresh 200 (got ${ref1.status} ${JSON.stringify(ref1.json)})`);
  assert(ref1.json.refresh_token && ref1.json.refresh_token !== tok.json.refresh_token, 'refresh token rotated');
  assert(ref1.json.access_token.split('.').length === 1, 'opaque access token without resource');
  assert(ref1.json.token_type === 'DPoP', 'refreshed token is DPoP bound');

  async function userinfo(accessToken) {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const r = await fetch(meta.userinfo_endpoint, {
        headers: { authorization: `DPoP ${accessToken}`, dpop: dpopProof('GET', meta.userinfo_endpoint, accessToken) },
      });
      if (r.headers.get('dpop-nonce')) dpopNonce = r.headers.get('dpop-nonce');
      if (r.status === 401 && /use_dpop_nonce/.test(r.headers.get('www-authenticate') || '') && attempt === 0) continue;
      return { status: r.status, json: await r.json().catch(() => ({})), headers: r.headers };
    }
    throw new Error('unreachable');
  }
  // force a nonce challenge at userinfo
  const savedNonce = dpopNonce;
  dpopNonce = undefined;
  const ui = await userinfo(ref1.json.access_token);
  assert(dpopNonce, 'userinfo demanded a DPoP nonce');
  dpopNonce = dpopNonce || savedNonce;
  assert(ui.status === 200, `userinfo 200 (got ${ui.status} ${JSON.stringify(ui.json)} ${ui.headers.get('www-authenticate')})`);
  assert(ui.json.sub === 'alice' && ui.json.name === 'Alice Example' && ui.json.email === 'alice@example.com' && ui.json.email_verified === true, 'userinfo claims');

  // refresh with resource -> JWT for the API again
  const ref2 = await postForm(meta.token_endpoint, { grant_type: 'refresh_token', refresh_token: ref1.json.refresh_token, resource: RESOURCE });
  assert(ref2.status === 200, `refresh with resource 200 (got ${ref2.status} ${JSON.stringify(ref2.json)})`);
  const at2 = verifyJwt(ref2.json.access_token, jwks);
  assert(at2.aud === RESOURCE && at2.cnf?.jkt === dpopJkt, 'refreshed JWT aud and cnf.jkt');

  // introspection (own token)
  const intro1 = await postForm(meta.introspection_endpoint, { token: ref2.json.refresh_token }, { dpop: false });
  assert(intro1.status === 200 && intro1.json.active === true, `introspect active (got ${JSON.stringify(intro1.json)})`);

  // revoke -> introspect inactive
  const rev = await postForm(meta.revocation_endpoint, { token: ref2.json.refresh_token, token_type_hint: 'refresh_token' }, { dpop: false });
  assert(rev.status === 200, `revocation 200 (got ${rev.status} ${JSON.stringify(rev.json)})`);
  const intro2 = await postForm(meta.introspection_endpoint, { token: ref2.json.refresh_token }, { dpop: false });
  assert(intro2.status === 200 && intro2.json.active === false, 'introspect inactive after revocation');

  // the rotated-out refresh token is rejected
  const old = await postForm(meta.token_endpoint, { grant_type: 'refresh_token', refresh_token: ref1.json.refresh_token });
  assert(old.status === 400 && old.json.error === 'invalid_grant', `old refresh token rejected (got ${old.status} ${JSON.stringify(old.json)})`);

  // dev stats
  const stats = await (await fetch(`${issuer}/__dev/stats`)).json();
  assert(stats.grants.authorization_code === 1, `stats authorization_code (${JSON.stringify(stats)})`);
  assert(stats.grants.refresh_token === 2, `stats refresh_token (${JSON.stringify(stats)})`);
  assert(stats.dpopNonceChallenges >= 2, `stats dpopNonceChallenges (${JSON.stringify(stats)})`);

  // dev back-channel logout
  const bc = await (await fetch(`${issuer}/__dev/backchannel-logout`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: CLIENT_ID, sub: 'alice', sid: idt.sid }),
  })).json();
  assert(bc.sent === true, `backchannel sent (${JSON.stringify(bc)})`);
  assert(logoutTokens.length === 1, 'receiver got one logout token');
  assert(/application\/x-www-form-urlencoded/.test(logoutTokens[0].contentType), 'logout token is a form post');
  const lt = verifyJwt(logoutTokens[0].token, jwks);
  assert(decodeJwt(logoutTokens[0].token).header.typ === 'logout+jwt', 'logout token typ');
  assert(lt.iss === issuer && lt.aud === CLIENT_ID && lt.sub === 'alice' && lt.sid === idt.sid, 'logout token claims');
  assert(lt.events?.['http://schemas.openid.net/event/backchannel-logout'], 'logout token event');
  assert(!('nonce' in lt), 'logout token has no nonce');
  const stats2 = await (await fetch(`${issuer}/__dev/stats`)).json();
  assert(stats2.backchannel.sent === 1 && stats2.backchannel.errors === 0, `stats backchannel (${JSON.stringify(stats2)})`);

  // RP-initiated logout (scripted): GET end_session -> POST confirm with xsrf + logout=yes
  res = await asRequest(`${meta.end_session_endpoint}?${new URLSearchParams({
    id_token_hint: tok.json.id_token, post_logout_redirect_uri: REDIRECT_URI, client_id: CLIENT_ID, state: 'bye',
  })}`);
  html = await res.text();
  assert(res.status === 200 && !html.includes('fonts.googleapis.com'), 'logout confirmation page');
  const xsrf = html.match(/name="xsrf" value="([^"]+)"/)?.[1];
  assert(xsrf, 'logout page has xsrf');
  res = await asRequest(formAction(html), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf, logout: 'yes' }),
  });
  assert(res.status === 303, `logout confirm redirects (got ${res.status})`);
  const after = new URL(res.headers.get('location'));
  assert(after.href.startsWith(REDIRECT_URI) && after.searchParams.get('state') === 'bye', `post logout redirect (${after.href})`);
  assert(logoutTokens.length === 2, 'RP-initiated logout sent a back-channel logout token');
  assert(verifyJwt(logoutTokens[1].token, jwks).sid === idt.sid, 'RP-initiated logout token sid');
  const stats3 = await (await fetch(`${issuer}/__dev/stats`)).json();
  assert(stats3.backchannel.sent === 2, `stats backchannel after logout (${JSON.stringify(stats3)})`);

  // dynamic client registration is forced to FAPI 2.0 metadata
  const dcrKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dcrJwk = { ...dcrKey.publicKey.export({ format: 'jwk' }), kid: 'dcr-1', alg: 'ES256' };
  const bad = await fetch(meta.registration_endpoint, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer wrong' }, body: JSON.stringify({ redirect_uris: [REDIRECT_URI], jwks: { keys: [dcrJwk] } }),
  });
  assert(bad.status === 401, `registration with wrong initial access token rejected (got ${bad.status})`);
  const reg = await fetch(meta.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer dev-iat-secret' },
    body: JSON.stringify({
      redirect_uris: [REDIRECT_URI], jwks: { keys: [dcrJwk] }, token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256', id_token_signed_response_alg: 'ES256', authorization_signed_response_alg: 'ES256', dpop_bound_access_tokens: false,
    }),
  });
  const regJson = await reg.json();
  assert(reg.status === 201, `registration 201 (got ${reg.status} ${JSON.stringify(regJson)})`);
  assert(regJson.dpop_bound_access_tokens === true && regJson.token_endpoint_auth_method === 'private_key_jwt', 'registered client forced to DPoP + private_key_jwt');
  assert(regJson.registration_access_token && regJson.registration_client_uri, 'registration management');
  const read = await fetch(regJson.registration_client_uri, { headers: { authorization: `Bearer ${regJson.registration_access_token}` } });
  assert(read.status === 200 && (await read.json()).client_id === regJson.client_id, 'registration read');
  const parDcr = await postForm(meta.pushed_authorization_request_endpoint, {
    response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: sha256(verifier), code_challenge_method: 'S256',
  }, { clientId: regJson.client_id, key: dcrKey.privateKey, kid: 'dcr-1' });
  assert(parDcr.status === 201, `PAR for registered client (got ${parDcr.status} ${JSON.stringify(parDcr.json)})`);

  // clean shutdown on SIGTERM
  const exit = new Promise((r) => { child.on('exit', (c, s) => r({ c, s })); });
  child.kill('SIGTERM');
  const { c } = await exit;
  assert(c === 0, `server exits 0 on SIGTERM (got ${c})`);
  assert(!/access_token|refresh_token"|eyJ/.test(stderr), 'no tokens in server log');
}

try {
  await main();
  cleanup();
  if (process.env.SMOKE_VERBOSE) console.error(stderr);
  console.log('SMOKE OK');
  process.exit(0);
} catch (err) {
  cleanup();
  console.error(`SMOKE FAILED: ${err.message}`);
  console.error('--- server stderr ---');
  console.error(stderr);
  process.exit(1);
}
