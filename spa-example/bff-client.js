/**
 * bff-client.js — a tiny browser client for the token handler BFF.
 *
 * Copy this file into your own single-page app. It has no dependencies and
 * needs no build step. The browser never sees an OAuth token: the BFF keeps
 * tokens in encrypted HttpOnly cookies and this helper only
 *
 *   - starts and finishes logins (`login`, `handlePageLoad`),
 *   - reads the session (`session`),
 *   - calls APIs through the BFF proxy (`fetchApi`), refreshing once on a 401,
 *   - logs out (`logout`).
 *
 * Every call sends `credentials: 'include'` so the session cookie flows, and
 * every state-changing call carries the CSRF token in the `X-CSRF-Token`
 * header. The CSRF token is kept in a module variable only — never in
 * localStorage, sessionStorage or a cookie readable by script.
 *
 * @module bff-client
 */

/** Methods that never change state and therefore carry no CSRF header. */
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** Query parameters that mark an authorization response in the page URL. */
const AUTH_RESPONSE_PARAMS = ['code', 'state', 'iss', 'error', 'error_description', 'response', 'session_state'];

let settings = null;
let csrfToken = null;
let refreshInFlight = null;

/**
 * An error answered by the BFF (or a failure to reach it).
 *
 * The BFF answers errors as JSON `{"error": code, "error_description": text}`.
 * A network failure (BFF unreachable, CORS refused) has `status` 0 and
 * `code` `"network_error"`.
 */
export class BffError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when the BFF could not be reached.
   * @param {string} code Stable error code from the BFF (e.g. `"csrf_failed"`).
   * @param {string} [description] Human-readable description from the BFF.
   */
  constructor(status, code, description = '') {
    super(description ? `${code}: ${description}` : code);
    this.name = 'BffError';
    /** @type {number} */
    this.status = status;
    /** @type {string} */
    this.code = code;
    /** @type {string} */
    this.description = description;
  }
}

/**
 * Configure the client. Optional: without a call the base URL comes from
 * `<meta name="bff-base-url" content="...">`, and an empty value (or no
 * tag) means the BFF is on the same origin as the page.
 *
 * @param {object} [options]
 * @param {string} [options.baseUrl] Origin (and optional path) of the BFF, e.g.
 *   `"http://127.0.0.1:8000"`; `""` for same origin.
 * @param {string} [options.bffPath="/bff"] Prefix of the BFF's browser endpoints.
 * @returns {{baseUrl: string, bffPath: string}} The settings now in force.
 */
export function configure({ baseUrl, bffPath } = {}) {
  const current = getSettings();
  settings = {
    baseUrl: baseUrl === undefined ? current.baseUrl : trimSlash(String(baseUrl)),
    bffPath: bffPath === undefined ? current.bffPath : '/' + String(bffPath).replace(/^\/+|\/+$/g, ''),
  };
  return { ...settings };
}

/**
 * Call on every page load, before anything else. Sends the page URL to
 * `POST /bff/login/end`; when the URL carries an authorization response the
 * BFF completes the login and this function replaces the address bar entry
 * with `returnTo`, so the code and state never stay in the URL or history.
 *
 * @returns {Promise<{isLoggedIn: boolean, handled: boolean, returnTo?: string, csrfToken?: string}>}
 * @throws {BffError} When the BFF rejects the authorization response or is unreachable.
 *   The authorization response is removed from the address bar in that case too.
 */
export async function handlePageLoad() {
  let result;
  try {
    result = await bffCall('POST', '/login/end', { pageUrl: window.location.href });
  } catch (err) {
    if (hasAuthorizationResponse(window.location)) {
      window.history.replaceState(window.history.state, '', window.location.pathname + window.location.hash);
    }
    throw err;
  }
  remember(result);
  if (result && result.handled) {
    const target = isRelativePath(result.returnTo) ? result.returnTo : window.location.pathname;
    window.history.replaceState(null, '', target);
  }
  return result;
}

/**
 * Start a login: asks the BFF for an authorization URL (`POST /bff/login/start`)
 * and navigates the page to it. Does not return in practice.
 *
 * @param {object} [options]
 * @param {string} [options.returnTo] Relative path to come back to after login
 *   (default: the current path).
 * @param {Object<string, string>} [options.extraParams] Extra authorization request
 *   parameters; the BFF accepts only its allowlist (`prompt`, `acr_values`,
 *   `ui_locales`, `login_hint`, `authorization_details`, ...).
 * @returns {Promise<void>}
 * @throws {BffError}
 */
export async function login({ returnTo, extraParams } = {}) {
  const body = { returnTo: returnTo ?? window.location.pathname + window.location.search + window.location.hash };
  if (extraParams) body.extraParams = extraParams;
  const { authorizationUrl } = await bffCall('POST', '/login/start', body);
  if (!authorizationUrl) throw new BffError(502, 'invalid_response', 'The BFF gave no authorization URL.');
  window.location.assign(authorizationUrl);
}

/**
 * Read the current session (`GET /bff/session`).
 *
 * @returns {Promise<{isLoggedIn: boolean, claims?: object, expiresAt?: number|string, csrfToken?: string}>}
 * @throws {BffError}
 */
export async function session() {
  const result = await bffCall('GET', '/session');
  remember(result);
  return result;
}

/**
 * Call an API through the BFF proxy. Works like `fetch`, with the session
 * cookie included and the CSRF header added to non-GET/HEAD requests.
 *
 * On a 401 it calls `POST /bff/refresh` once and, if the refresh succeeded,
 * repeats the request once. Concurrent 401s share one refresh call. The body
 * must be re-sendable for the retry (a string, Blob, FormData, ... — not a stream).
 *
 * HTTP error statuses are not thrown: check `response.ok`, then use
 * {@link readError} for the BFF/API error body.
 *
 * @param {string} path Path on the BFF, e.g. `"/api/accounts"`.
 * @param {RequestInit} [init] Options as for `fetch`.
 * @returns {Promise<Response>}
 * @throws {BffError} Only when the BFF cannot be reached (`status` 0).
 */
export async function fetchApi(path, init = {}) {
  const send = () => rawFetch(url(path), buildInit(init));
  const response = await send();
  if (response.status !== 401) return response;
  const refreshed = await refresh();
  if (!refreshed) return response;
  return send();
}

/**
 * Log out (`POST /bff/logout`): the BFF revokes the tokens and clears its
 * cookies; the page then goes to the authorization server's logout URL (or
 * reloads the current path when the BFF gives none).
 *
 * @returns {Promise<void>}
 * @throws {BffError}
 */
export async function logout() {
  const result = await bffCall('POST', '/logout', {});
  csrfToken = null;
  window.location.assign(result && result.logoutUrl ? result.logoutUrl : window.location.pathname);
}

/**
 * Turn a non-OK `Response` into a {@link BffError}, reading the
 * `{"error", "error_description"}` body when there is one.
 *
 * @param {Response} response
 * @returns {Promise<BffError>}
 */
export async function readError(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const code = body && typeof body.error === 'string' ? body.error : `http_${response.status}`;
  const description = body && typeof body.error_description === 'string' ? body.error_description : '';
  return new BffError(response.status, code, description);
}

// ---------------------------------------------------------------------------
// internals

function getSettings() {
  if (!settings) {
    const meta = typeof document !== 'undefined' ? document.querySelector('meta[name="bff-base-url"]') : null;
    settings = { baseUrl: trimSlash(meta ? meta.getAttribute('content') || '' : ''), bffPath: '/bff' };
  }
  return settings;
}

function trimSlash(value) {
  return value.trim().replace(/\/+$/, '');
}

function url(path) {
  return getSettings().baseUrl + (path.startsWith('/') ? path : '/' + path);
}

function isRelativePath(value) {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\');
}

function hasAuthorizationResponse(loc) {
  const params = new URLSearchParams(loc.search);
  return AUTH_RESPONSE_PARAMS.some((name) => params.has(name));
}

function remember(result) {
  if (result && typeof result.csrfToken === 'string' && result.csrfToken) {
    csrfToken = result.csrfToken;
  } else if (result && result.isLoggedIn === false) {
    csrfToken = null;
  }
}

function buildInit(init) {
  const method = (init.method || 'GET').toUpperCase();
  const headers = new Headers(init.headers || {});
  if (!headers.has('Accept')) headers.set('Accept', 'application/json');
  if (typeof init.body === 'string' && !headers.has('Content-Type')) {
    headers.set('Content-Type', 'application/json');
  }
  if (!SAFE_METHODS.has(method) && csrfToken) headers.set('X-CSRF-Token', csrfToken);
  return { ...init, method, headers, credentials: 'include' };
}

async function rawFetch(target, init) {
  try {
    return await fetch(target, init);
  } catch (err) {
    throw new BffError(0, 'network_error', 'The service could not be reached.');
  }
}

/** Call a BFF browser endpoint, parse JSON, throw BffError on failure. */
async function bffCall(method, endpoint, body) {
  const init = { method };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await rawFetch(url(getSettings().bffPath + endpoint), buildInit(init));
  if (!response.ok) throw await readError(response);
  if (response.status === 204) return {};
  try {
    return await response.json();
  } catch {
    throw new BffError(502, 'invalid_response', 'The BFF answered with something that is not JSON.');
  }
}

/** One refresh at a time per page; resolves to true when the session was refreshed. */
function refresh() {
  if (!refreshInFlight) {
    refreshInFlight = bffCall('POST', '/refresh', {})
      .then((result) => {
        remember(result);
        return true;
      })
      .catch(() => false)
      .finally(() => {
        refreshInFlight = null;
      });
  }
  return refreshInFlight;
}
