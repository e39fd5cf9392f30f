// FAPI 2.0 development authorization server (oidc-provider 9.13.3).
//
// Usage: node server.mjs --config /path/to/config.json
//
// Development only: it keeps everything in memory, accepts any login, and lets
// the provider call back-channel logout endpoints on loopback addresses.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import process from 'node:process';

import {
  ACR_MFA, ACR_PWD, PAYMENT_TYPE, addStepUpChecks, interactionRoutes,
} from './interactions.mjs';

function fail(message) {
  process.stderr.write(`authorization-server: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

function parseArgs(argv) {
  let configPath;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--config') {
      configPath = argv[i + 1];
      i += 1;
    } else if (arg.startsWith('--config=')) {
      configPath = arg.slice('--config='.length);
    } else {
      fail(`unknown argument ${JSON.stringify(arg)} (usage: server.mjs --config CONFIG.json)`);
    }
  }
  if (!configPath) fail('missing --config CONFIG.json');
  return { configPath };
}

function positiveInt(value, name, fallback) {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) fail(`config: ${name} must be a positive integer`);
  return value;
}

function loadConfig(configPath) {
  let raw;
  try {
    raw = fs.readFileSync(configPath, 'utf8');
  } catch (err) {
    fail(`cannot read config ${configPath}: ${err.code || err.message}`);
  }
  let config;
  try {
    config = JSON.parse(raw);
  } catch (err) {
    fail(`config ${configPath} is not valid JSON: ${err.message}`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) fail('config must be a JSON object');

  const host = config.host ?? '127.0.0.1';
  if (typeof host !== 'string' || !host) fail('config: host must be a non-empty string');
  const port = config.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('config: port must be an integer 0-65535');

  if (!Array.isArray(config.clients) || config.clients.length === 0) {
    fail('config: clients must be a non-empty array');
  }
  config.clients.forEach((c, i) => {
    if (!c || typeof c !== 'object') fail(`config: clients[${i}] must be an object`);
    if (typeof c.client_id !== 'string' || !c.client_id) fail(`config: clients[${i}].client_id is required`);
    if (!Array.isArray(c.redirect_uris) || c.redirect_uris.length === 0) {
      fail(`config: clients[${i}].redirect_uris must be a non-empty array`);
    }
    if (c.jwks_uri !== undefined) {
      // the client publishes its keys (key rotation without re-registration)
      if (typeof c.jwks_uri !== 'string' || !URL.canParse(c.jwks_uri)) fail(`config: clients[${i}].jwks_uri must be an absolute URL`);
      if (c.jwks !== undefined) fail(`config: clients[${i}] takes jwks or jwks_uri, not both`);
      return;
    }
    if (!c.jwks || !Array.isArray(c.jwks.keys) || c.jwks.keys.length === 0) {
      fail(`config: clients[${i}].jwks.keys must be a non-empty array of public JWKs (or jwks_uri)`);
    }
    for (const k of c.jwks.keys) {
      if (!k || typeof k !== 'object' || !k.kty) fail(`config: clients[${i}].jwks.keys contains an invalid JWK`);
      if (k.d || k.p || k.q) fail(`config: clients[${i}].jwks.keys must only contain public keys`);
    }
  });

  const resource = config.resource ?? 'http://127.0.0.1:9000/';
  if (typeof resource !== 'string' || !URL.canParse(resource)) fail('config: resource must be an absolute URI');
  const resourceScopes = config.resourceScopes ?? 'openid profile email offline_access accounts payments';
  if (typeof resourceScopes !== 'string') fail('config: resourceScopes must be a space separated string');

  if (config.cookieKeys !== undefined
    && (!Array.isArray(config.cookieKeys) || !config.cookieKeys.length
      || config.cookieKeys.some((k) => typeof k !== 'string' || !k))) {
    fail('config: cookieKeys must be a non-empty array of strings');
  }
  if (config.registrationInitialAccessToken !== undefined
    && (typeof config.registrationInitialAccessToken !== 'string' || !config.registrationInitialAccessToken)) {
    fail('config: registrationInitialAccessToken must be a non-empty string');
  }
  if (config.useGrantedResource !== undefined && typeof config.useGrantedResource !== 'boolean') {
    fail('config: useGrantedResource must be a boolean');
  }
  if (config.defaultResource !== undefined && typeof config.defaultResource !== 'boolean') {
    fail('config: defaultResource must be a boolean');
  }

  for (const key of ['totpSeedKey', 'pairwiseSalt']) {
    if (config[key] !== undefined && (typeof config[key] !== 'string' || !config[key])) {
      fail(`config: ${key} must be a non-empty string`);
    }
  }

  return {
    host,
    port,
    // development values: anyone who knows them can compute every demo user's codes / subjects
    totpSeedKey: config.totpSeedKey ?? 'bff-dev-totp',
    totpPeriod: positiveInt(config.totpPeriod, 'totpPeriod', 30),
    pairwiseSalt: config.pairwiseSalt ?? 'bff-dev-pairwise',
    clients: config.clients,
    resource,
    resourceScopes,
    accessTokenTTL: positiveInt(config.accessTokenTTL, 'accessTokenTTL', 300),
    refreshTokenTTL: positiveInt(config.refreshTokenTTL, 'refreshTokenTTL', 86400),
    idTokenTTL: positiveInt(config.idTokenTTL, 'idTokenTTL', 300),
    sessionTTL: positiveInt(config.sessionTTL, 'sessionTTL', 3600),
    registrationInitialAccessToken: config.registrationInitialAccessToken ?? 'dev-iat-secret',
    cookieKeys: config.cookieKeys ?? [crypto.randomBytes(32).toString('base64url')],
    useGrantedResource: config.useGrantedResource ?? false,
    // true: an authorization request naming no resource is bound to the API anyway, like an
    // AS without resource indicators that puts one configured audience in every token
    defaultResource: config.defaultResource ?? false,
    // the public issuer when the AS sits behind a proxy (e.g. a test's switchable forwarder)
    issuer: typeof config.issuer === 'string' && config.issuer ? config.issuer.replace(/\/+$/, '') : undefined,
  };
}

// ---------------------------------------------------------------------------
// keys, clients, accounts
// ---------------------------------------------------------------------------

function signingKeys() {
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return {
    keys: [
      { ...ec, alg: 'ES256', use: 'sig', kid: `es256-${crypto.randomBytes(6).toString('hex')}` },
      { ...rsa, alg: 'PS256', use: 'sig', kid: `ps256-${crypto.randomBytes(6).toString('hex')}` },
    ],
  };
}

function keyAlg(jwks) {
  if (!jwks) return 'ES256'; // jwks_uri clients: set token_endpoint_auth_signing_alg to change it
  const [key] = jwks.keys;
  if (key.alg) return key.alg;
  if (key.kty === 'RSA') return 'PS256';
  if (key.kty === 'OKP') return 'EdDSA';
  return 'ES256';
}

function staticClient(c) {
  const metadata = {
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: keyAlg(c.jwks),
    id_token_signed_response_alg: 'ES256',
    authorization_signed_response_alg: 'ES256',
    dpop_bound_access_tokens: true,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    require_pushed_authorization_requests: true,
    require_auth_time: true,
    authorization_details_types: [PAYMENT_TYPE],
    ...c,
  };
  // mTLS block: the TLS client-auth methods sign nothing at the token endpoint
  if (metadata.token_endpoint_auth_method !== 'private_key_jwt') delete metadata.token_endpoint_auth_signing_alg;
  if (metadata.backchannel_logout_uri && metadata.backchannel_logout_session_required === undefined) {
    metadata.backchannel_logout_session_required = true;
  }
  return metadata;
}

function titleCase(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

function devAccount(id) {
  const local = String(id).split('@')[0];
  const givenName = titleCase(local);
  const familyName = 'Example';
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        name: `${givenName} ${familyName}`,
        given_name: givenName,
        family_name: familyName,
        email: String(id).includes('@') ? id : `${local}@example.com`,
        email_verified: true,
      };
    },
  };
}

// ---------------------------------------------------------------------------
// rich authorization requests (RFC 9396): one type, `payment_initiation`, validated strictly
// ---------------------------------------------------------------------------

const PAYMENT_KEYS = new Set(['type', 'instructedAmount', 'creditorName', 'creditorAccount',
  'remittanceInformationUnstructured']);
const AMOUNT = /^(0|[1-9][0-9]{0,11})\.[0-9]{2}$/;

function paymentProblem(detail) {
  const extra = Object.keys(detail).filter((k) => !PAYMENT_KEYS.has(k));
  if (extra.length) return `unknown member ${extra[0]}`;
  const amount = detail.instructedAmount;
  if (!amount || typeof amount !== 'object' || Object.keys(amount).sort().join() !== 'amount,currency') {
    return 'instructedAmount must be {amount, currency}';
  }
  if (typeof amount.amount !== 'string' || !AMOUNT.test(amount.amount) || Number(amount.amount) <= 0) {
    return 'instructedAmount.amount must be a positive decimal string with 2 places';
  }
  if (typeof amount.currency !== 'string' || !/^[A-Z]{3}$/.test(amount.currency)) {
    return 'instructedAmount.currency must be an ISO 4217 code';
  }
  if (typeof detail.creditorName !== 'string' || !detail.creditorName.trim() || detail.creditorName.length > 140) {
    return 'creditorName must be a non-empty string of at most 140 characters';
  }
  const account = detail.creditorAccount;
  if (!account || typeof account !== 'object' || Object.keys(account).join() !== 'iban'
    || typeof account.iban !== 'string' || !/^[A-Z]{2}[0-9]{2}[A-Z0-9 ]{8,38}$/.test(account.iban)) {
    return 'creditorAccount must be {iban}';
  }
  const reference = detail.remittanceInformationUnstructured;
  if (reference !== undefined && (typeof reference !== 'string' || reference.length > 140)) {
    return 'remittanceInformationUnstructured must be a string of at most 140 characters';
  }
  return '';
}

function requestedAuthorizationDetails(ctx) {
  const raw = ctx.oidc.params?.authorization_details;
  return typeof raw === 'string' ? JSON.parse(raw) : undefined;
}

// ---------------------------------------------------------------------------
// outgoing requests: allow loopback targets (back-channel logout to a local BFF)
// ---------------------------------------------------------------------------

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function devFetch(url, options) {
  const { hostname } = new URL(url);
  if (LOOPBACK_HOSTS.has(hostname) || hostname.startsWith('127.')) {
    // Drop the special-use-address guard for loopback targets only.
    delete options.dispatcher; // eslint-disable-line no-param-reassign
  }
  return globalThis.fetch(url, options);
}

// ---------------------------------------------------------------------------
// mutual TLS (RFC 8705) and opaque-token resources: one block, set up by
// mtlsSetup(); the rest of the file only calls into it
// ---------------------------------------------------------------------------

// Config keys: "tls": {"cert", "key", "ca", "port"?} starts a second, TLS listener
// serving the mtls_endpoint_aliases; "opaqueResources": [uri] are resources whose
// access tokens are opaque (reference) tokens; "introspectors": [client_id] may
// introspect any client's tokens (a phantom-token gateway).
function loadMtlsConfig(config) {
  const out = { tls: undefined, opaqueResources: [], introspectors: [] };
  if (config.tls !== undefined) {
    const t = config.tls;
    if (!t || typeof t !== 'object') fail('config: tls must be an object');
    for (const k of ['cert', 'key', 'ca']) {
      if (typeof t[k] !== 'string' || !t[k]) fail(`config: tls.${k} must be a PEM file path`);
    }
    const port = t.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail('config: tls.port must be an integer 0-65535');
    let pem;
    try {
      pem = { cert: fs.readFileSync(t.cert), key: fs.readFileSync(t.key), ca: fs.readFileSync(t.ca) };
    } catch (err) {
      fail(`config: cannot read tls files: ${err.code || err.message}`);
    }
    out.tls = { ...pem, port };
  }
  for (const key of ['opaqueResources', 'introspectors']) {
    const value = config[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || !v)) {
      fail(`config: ${key} must be an array of strings`);
    }
    out[key] = value;
  }
  return out;
}

function peerCertificate(ctx) {
  const socket = ctx.req?.socket;
  if (!socket || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.raw) return undefined;
  return new crypto.X509Certificate(cert.raw);
}

function mtlsSetup(mtlsCfg) {
  const enabled = Boolean(mtlsCfg.tls);
  const feature = {
    enabled,
    certificateBoundAccessTokens: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: true,
    // the certificate the TLS listener received; none on the plain-http listener
    getCertificate(ctx) {
      return peerCertificate(ctx)?.toString();
    },
    // chains to the configured CA (the listener asks for a certificate but lets
    // self-signed ones through for self_signed_tls_client_auth)
    certificateAuthorized(ctx) {
      return ctx.req?.socket?.authorized === true;
    },
    certificateSubjectMatches(ctx, property, expected) {
      const cert = peerCertificate(ctx);
      if (!cert) return false;
      if (property === 'tls_client_auth_subject_dn') return cert.subject === expected;
      const sans = (cert.subjectAltName || '').split(', ');
      if (property === 'tls_client_auth_san_dns') return sans.includes(`DNS:${expected}`);
      if (property === 'tls_client_auth_san_ip') return sans.includes(`IP Address:${expected}`);
      if (property === 'tls_client_auth_san_uri') return sans.includes(`URI:${expected}`);
      if (property === 'tls_client_auth_san_email') return sans.includes(`email:${expected}`);
      return false;
    },
  };
  const authMethods = enabled ? ['tls_client_auth', 'self_signed_tls_client_auth'] : [];

  async function listen(host, callback) {
    if (!enabled) return undefined;
    const tlsServer = https.createServer({
      cert: mtlsCfg.tls.cert,
      key: mtlsCfg.tls.key,
      ca: mtlsCfg.tls.ca,
      requestCert: true,
      rejectUnauthorized: false,
    }, (req, res) => callback(req, res));
    tlsServer.on('error', (err) => fail(`cannot listen (tls) on ${host}: ${err.code || err.message}`));
    await new Promise((resolve) => { tlsServer.listen(mtlsCfg.tls.port, host, resolve); });
    return tlsServer;
  }

  // RFC 8705 §5: the endpoints a client reaches with its certificate
  function aliases(base) {
    return {
      token_endpoint: `${base}/token`,
      pushed_authorization_request_endpoint: `${base}/request`,
      revocation_endpoint: `${base}/token/revocation`,
      introspection_endpoint: `${base}/token/introspection`,
      userinfo_endpoint: `${base}/me`,
    };
  }

  function resourceFormat(resource) {
    return mtlsCfg.opaqueResources.includes(resource) ? 'opaque' : undefined;
  }

  function mayIntrospect(client, token) {
    return token.clientId === client.clientId || mtlsCfg.introspectors.includes(client.clientId);
  }

  // JWT introspection responses (RFC 9701) are signed with an algorithm the AS allows
  function extend(configuration, base) {
    /* eslint-disable no-param-reassign */
    configuration.clientDefaults.introspection_signed_response_alg = 'ES256';
    if (base) configuration.discovery = { mtls_endpoint_aliases: aliases(base) };
    /* eslint-enable no-param-reassign */
  }

  return { feature, authMethods, listen, extend, resourceFormat, mayIntrospect };
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

const { configPath } = parseArgs(process.argv.slice(2));
const cfg = loadConfig(configPath);
const mtls = mtlsSetup(loadMtlsConfig(JSON.parse(fs.readFileSync(configPath, 'utf8'))));

const stats = {
  grants: { authorization_code: 0, refresh_token: 0 },
  backchannel: { sent: 0, errors: 0 },
  dpopNonceChallenges: 0,
  clientAssertionKids: {}, // kid of the client assertion of each successful grant
};

let provider;
let providerCallback;
let tlsServer; // the mTLS listener, when configured

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(data),
  });
  res.end(data);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > 64 * 1024) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text) {
        resolve({});
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new Error('request body must be JSON'));
      }
    });
    req.on('error', reject);
  });
}

async function devBackchannelLogout(req, res) {
  let body;
  try {
    body = await readJson(req);
  } catch (err) {
    sendJson(res, 400, { sent: false, error: err.message });
    return;
  }
  const { client_id: clientId, sub, sid } = body || {};
  if (typeof clientId !== 'string' || typeof sub !== 'string' || (sid !== undefined && typeof sid !== 'string')) {
    sendJson(res, 400, { sent: false, error: 'client_id and sub (strings) are required, sid is optional' });
    return;
  }
  let client;
  try {
    client = await provider.Client.find(clientId);
  } catch (err) {
    sendJson(res, 200, { sent: false, error: `invalid client: ${err.message}` });
    return;
  }
  if (!client) {
    sendJson(res, 200, { sent: false, error: 'unknown client' });
    return;
  }
  if (!client.backchannelLogoutUri) {
    sendJson(res, 200, { sent: false, error: 'client has no backchannel_logout_uri' });
    return;
  }
  try {
    await client.backchannelLogout(sub, sid);
    stats.backchannel.sent += 1;
    sendJson(res, 200, { sent: true });
  } catch (err) {
    stats.backchannel.errors += 1;
    const reason = err.cause?.message ? `${err.message} (${err.cause.message})` : err.message;
    process.stderr.write(`[as] backchannel.error (dev endpoint) client=${clientId}: ${err.name}: ${reason}\n`);
    sendJson(res, 200, { sent: false, error: reason });
  }
}

async function handler(req, res) {
  const path = (req.url || '/').split('?')[0];
  if (path.startsWith('/__dev/')) {
    if (!provider) {
      sendJson(res, 503, { error: 'starting' });
      return;
    }
    if (path === '/__dev/stats' && req.method === 'GET') {
      sendJson(res, 200, stats);
      return;
    }
    if (path === '/__dev/expire-client-keys' && req.method === 'POST') {
      // stands in for the wait until the AS's cached copy of a client's jwks_uri goes stale
      // (oidc-provider keeps it at least 60 s): the next failing verification refetches it
      const body = await readJson(req).catch(() => ({}));
      const client = await provider.Client.find(body?.client_id);
      if (!client || !client.jwksUri) {
        sendJson(res, 400, { expired: false, error: 'unknown client or no jwks_uri' });
        return;
      }
      client.asymmetricKeyStore.freshUntil = 0;
      sendJson(res, 200, { expired: true });
      return;
    }
    if (path === '/__dev/backchannel-logout' && req.method === 'POST') {
      await devBackchannelLogout(req, res);
      return;
    }
    sendJson(res, 404, { error: 'not found' });
    return;
  }
  if (!providerCallback) {
    sendJson(res, 503, { error: 'starting' });
    return;
  }
  providerCallback(req, res);
}

const server = http.createServer((req, res) => {
  handler(req, res).catch((err) => {
    process.stderr.write(`[as] dev endpoint error: ${err.name}: ${err.message}\n`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
    else res.end();
  });
});

server.on('error', (err) => {
  fail(`cannot listen on ${cfg.host}:${cfg.port}: ${err.code || err.message}`);
});

function shutdown() {
  server.close(() => process.exit(0));
  tlsServer?.close();
  tlsServer?.closeAllConnections?.();
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

await new Promise((resolve) => { server.listen(cfg.port, cfg.host, resolve); });
const { port } = server.address();
const hostForUrl = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
const issuer = cfg.issuer ?? `http://${hostForUrl}:${port}`;
tlsServer = await mtls.listen(cfg.host, (req, res) => server.emit('request', req, res));
const mtlsBase = tlsServer ? `https://${hostForUrl}:${tlsServer.address().port}` : undefined;

let Provider;
let errors;
let interactionPolicy;
try {
  let Check;
  let base;
  ({ default: Provider, errors, interactionPolicy: { Check, base } } = await import('oidc-provider'));
  interactionPolicy = base();
  addStepUpChecks(interactionPolicy, Check);
} catch (err) {
  fail(`cannot load oidc-provider (run npm install in devstack/authorization-server): ${err.message}`);
}

const ALGS = ['PS256', 'ES256', 'EdDSA'];
const DEV_IAT_POLICY = 'dev-fapi2';

const configuration = {
  clients: cfg.clients.map(staticClient),
  jwks: signingKeys(),
  cookies: { keys: cfg.cookieKeys },
  async findAccount(_ctx, id) {
    return devAccount(id);
  },
  claims: {
    // how the user signed in goes into every ID token, not only when acr_values asked for it
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    profile: ['name', 'given_name', 'family_name'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', ...cfg.resourceScopes.split(' ').filter(Boolean)],
  clientAuthMethods: ['private_key_jwt', ...mtls.authMethods],
  clientDefaults: {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
    id_token_signed_response_alg: 'ES256',
    authorization_signed_response_alg: 'ES256',
  },
  enabledJWA: {
    clientAuthSigningAlgValues: ALGS,
    idTokenSigningAlgValues: ALGS,
    requestObjectSigningAlgValues: ALGS,
    userinfoSigningAlgValues: ALGS,
    introspectionSigningAlgValues: ALGS,
    authorizationSigningAlgValues: ALGS,
    dPoPSigningAlgValues: ALGS,
  },
  pkce: { required: () => true },
  features: {
    fapi: { enabled: true, profile: '2.0' },
    devInteractions: { enabled: false },
    richAuthorizationRequests: {
      enabled: true,
      types: {
        [PAYMENT_TYPE]: {
          validate(_ctx, detail) {
            const problem = paymentProblem(detail);
            if (problem) throw new errors.InvalidAuthorizationDetails(`${PAYMENT_TYPE}: ${problem}`);
          },
        },
      },
      // RFC 9396 §7: the code carries what was approved on the consent page of this very
      // authorization (the consent prompt always asks when details are requested)
      async authorizationDetailsForGrantSource(ctx) {
        return ctx.oidc.result?.consent ? requestedAuthorizationDetails(ctx) : undefined;
      },
      async authorizationDetailsForAccessToken(_ctx, _token, source) {
        return source?.rar;
      },
      async authorizationDetailsForIntrospection(_ctx, token) {
        return token.rar;
      },
    },
    pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
    dPoP: {
      enabled: true,
      nonceSecret: crypto.randomBytes(32),
      requireNonce: () => true,
    },
    resourceIndicators: {
      enabled: true,
      async defaultResource(_ctx, _client, oneOf) {
        // Only bind to the API when the client asked for it; without a resource
        // the access token is an opaque token for the userinfo endpoint.
        if (oneOf) return oneOf;
        return cfg.defaultResource ? cfg.resource : undefined;
      },
      async useGrantedResource() {
        return cfg.useGrantedResource;
      },
      async getResourceServerInfo(_ctx, resourceIndicator) {
        const opaque = mtls.resourceFormat(resourceIndicator); // mTLS block
        if (opaque) {
          return {
            scope: cfg.resourceScopes, audience: resourceIndicator, accessTokenFormat: opaque,
            accessTokenTTL: cfg.accessTokenTTL,
          };
        }
        if (resourceIndicator !== cfg.resource) throw new errors.InvalidTarget();
        return {
          scope: cfg.resourceScopes,
          audience: cfg.resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: cfg.accessTokenTTL,
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
    revocation: {
      enabled: true,
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
    introspection: {
      enabled: true,
      allowedPolicy: async (_ctx, client, token) => mtls.mayIntrospect(client, token),
    },
    jwtIntrospection: { enabled: true },
    mTLS: mtls.feature,
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
    registration: {
      enabled: true,
      initialAccessToken: true,
      policies: {
        [DEV_IAT_POLICY]: async (_ctx, properties) => {
          /* eslint-disable no-param-reassign */
          properties.token_endpoint_auth_method = 'private_key_jwt';
          properties.dpop_bound_access_tokens = true;
          properties.require_pushed_authorization_requests = true;
          if (!properties.grant_types) properties.grant_types = ['authorization_code', 'refresh_token'];
          if (!properties.response_types) properties.response_types = ['code'];
          /* eslint-enable no-param-reassign */
        },
      },
    },
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: false },
    jwtResponseModes: { enabled: true },
    requestObjects: { enabled: true, requireSignedRequestObject: false },
    claimsParameter: { enabled: false },
  },
  async issueRefreshToken(_ctx, client, source) {
    // a payment approval is one access token, never renewable by refresh
    return client.grantTypeAllowed('refresh_token') && source.scopes.has('offline_access')
      && !source.rar?.length;
  },
  acrValues: [ACR_PWD, ACR_MFA],
  subjectTypes: ['public', 'pairwise'],
  async pairwiseIdentifier(_ctx, accountId, client) {
    // OIDC Core §8.1: one value per sector identifier and user, not reversible without the salt
    return crypto.createHash('sha256')
      .update(`${client.sectorIdentifier}\0${accountId}\0${cfg.pairwiseSalt}`)
      .digest('base64url');
  },
  // the API decides on step-up (RFC 9470) from the authentication behind the access token
  async extraTokenClaims(ctx) {
    const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
    if (!source) return undefined;
    return { acr: source.acr, amr: source.amr, auth_time: source.authTime };
  },
  interactions: {
    policy: interactionPolicy,
    url(_ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: cfg.accessTokenTTL,
    AuthorizationCode: 60,
    IdToken: cfg.idTokenTTL,
    RefreshToken: cfg.refreshTokenTTL,
    Session: cfg.sessionTTL,
    Grant: Math.max(cfg.refreshTokenTTL, cfg.sessionTTL),
    Interaction: 600,
    InitialAccessToken: 10 * 365 * 24 * 3600,
    RegistrationAccessToken: 10 * 365 * 24 * 3600,
  },
  fetch: devFetch,
};
mtls.extend(configuration, mtlsBase);

try {
  provider = new Provider(issuer, configuration);
} catch (err) {
  server.close();
  fail(`invalid provider configuration: ${err.name}: ${err.message}`);
}

// Dev login/consent/logout/error pages import a web font from the internet;
// strip that so browsers in an offline test environment never wait on it.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.body.includes('fonts.googleapis.com')) {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/fonts\.googleapis\.com[^)]*\);?/g, '');
  }
});

provider.use(interactionRoutes(provider, {
  seedKey: cfg.totpSeedKey,
  totpPeriod: cfg.totpPeriod,
  log: (line) => process.stderr.write(`${line}\n`),
}));

// ---------------------------------------------------------------------------
// event logging and counters (never log token values)
// ---------------------------------------------------------------------------

function describe(err) {
  if (!err) return 'unknown error';
  const parts = [`${err.name || 'Error'}: ${err.message}`];
  if (err.error_description && err.error_description !== err.message) parts.push(err.error_description);
  if (err.error_detail) parts.push(`detail: ${err.error_detail}`);
  if (err.cause?.message) parts.push(`cause: ${err.cause.message}`);
  return parts.join(' | ').replace(/\s+/g, ' ');
}

const ERROR_EVENTS = [
  'server_error',
  'grant.error',
  'authorization.error',
  'pushed_authorization_request.error',
  'backchannel.error',
  'introspection.error',
  'revocation.error',
  'userinfo.error',
  'registration_create.error',
  'registration_read.error',
  'registration_update.error',
  'registration_delete.error',
  'end_session.error',
  'end_session_confirm.error',
  'jwks.error',
  'discovery.error',
];

for (const event of ERROR_EVENTS) {
  provider.on(event, (ctx, err) => {
    if (err?.error === 'use_dpop_nonce') {
      stats.dpopNonceChallenges += 1;
    }
    if (event === 'backchannel.error') stats.backchannel.errors += 1;
    const route = ctx?.oidc?.route ? ` route=${ctx.oidc.route}` : '';
    const client = ctx?.oidc?.client?.clientId ? ` client=${ctx.oidc.client.clientId}` : '';
    process.stderr.write(`[as] ${event}${route}${client}: ${describe(err)}\n`);
  });
}

provider.on('grant.success', (ctx) => {
  const grantType = ctx.oidc.params?.grant_type;
  if (grantType) stats.grants[grantType] = (stats.grants[grantType] || 0) + 1;
  const assertion = ctx.oidc.params?.client_assertion;
  if (typeof assertion === 'string') {
    try {
      const { kid } = JSON.parse(Buffer.from(assertion.split('.')[0], 'base64url').toString());
      if (typeof kid === 'string') stats.clientAssertionKids[kid] = (stats.clientAssertionKids[kid] || 0) + 1;
    } catch { /* not a JWS: the grant would not have succeeded */ }
  }
});
provider.on('backchannel.success', () => {
  stats.backchannel.sent += 1;
});

// Dynamic client registration with the configured initial access token value:
// its policy forces FAPI 2.0 metadata on every registered client.
{
  const iat = new provider.InitialAccessToken({ policies: [DEV_IAT_POLICY] });
  iat.jti = cfg.registrationInitialAccessToken;
  await iat.save();
}

// Static clients are validated lazily by the provider; validate them now so a
// bad config fails at start-up.
for (const c of cfg.clients) {
  try {
    await provider.Client.find(c.client_id);
  } catch (err) {
    server.close();
    fail(`config: client ${c.client_id} is invalid: ${describe(err)}`);
  }
}

providerCallback = provider.callback();

process.stdout.write(`READY ${JSON.stringify({ issuer, port, ...(mtlsBase ? { mtls: mtlsBase } : {}) })}\n`);
