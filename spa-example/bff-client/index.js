/**
 * @token-handler/bff-client — a typed browser client for the token handler BFF.
 *
 * The browser never sees an OAuth token: the BFF keeps tokens in encrypted HttpOnly cookies and
 * this client only starts and finishes logins, reads the session, calls APIs through the BFF's
 * proxy (refreshing and recovering CSRF once), and signs out. The CSRF token lives in memory
 * only. No runtime dependencies; an ES module; types in `types/index.d.ts` (generated from the
 * JSDoc below by `npm run types`).
 *
 * @module @token-handler/bff-client
 */

import { BFF_ERROR_CODES } from './error-codes.js';

export { BFF_ERROR_CODES };

/** The package version (kept equal to package.json by a test). */
export const VERSION = '0.2.0';

/** @typedef {import('./error-codes.js').BffErrorCode} BffErrorCode */

/**
 * Codes this client produces itself, without an answer from the BFF:
 * `network_error` (BFF unreachable or CORS refused), `timeout` (no answer within `timeoutMs`),
 * `invalid_response` (an answer that is not the BFF's JSON).
 * @typedef {'network_error' | 'timeout' | 'invalid_response'} ClientErrorCode
 */

/**
 * A code known to this package. An API behind the proxy may answer with codes of its own:
 * {@link BffError.code} is then that string (narrow with {@link isKnownErrorCode}).
 * `http_<status>` is used when an error response has no JSON body.
 * @typedef {BffErrorCode | ClientErrorCode | `http_${number}`} ErrorCode
 */

/**
 * Claims about the signed-in user, as filtered by the BFF's `oauth.claims` setting.
 * @typedef {object} Claims
 * @property {string} [sub]
 * @property {string} [name]
 * @property {string} [given_name]
 * @property {string} [family_name]
 * @property {string} [preferred_username]
 * @property {string} [email]
 */

/**
 * `GET /bff/session`.
 * @typedef {{isLoggedIn: false} | {isLoggedIn: true, claims: Claims & Record<string, unknown>, expiresAt: number}} SessionInfo
 * `expiresAt` is when the session ends if unused: seconds since the Unix epoch (multiply by
 * 1000 for `new Date()`).
 */

/**
 * What {@link BffClient.handlePageLoad} did.
 * `handled: false`: the URL carried no authorization response, nothing was sent.
 * `handled: true`: the login finished, the address bar now shows `returnTo`.
 * @typedef {{handled: false} | {handled: true, isLoggedIn: true, returnTo: string, purposeId?: string}} PageLoadResult
 */

/**
 * Session events. `source` is `'this-tab'` or `'other-tab'` (told by BroadcastChannel).
 * - `signed-in`: a login finished (here, or in another tab: this tab's CSRF token is stale).
 * - `signed-out`: `logout()` ran (here or in another tab).
 * - `session-expired`: a session this tab knew about is gone (refresh refused, or the BFF
 *   answered `isLoggedIn: false`). Not sent when the tab never had a session.
 * @typedef {'signed-in' | 'signed-out' | 'session-expired'} SessionEventType
 */

/**
 * @typedef {object} SessionEvent
 * @property {SessionEventType} type
 * @property {'this-tab' | 'other-tab'} source
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} [baseUrl] Origin (and optional path) of the BFF, e.g.
 *   `"https://bff.bank.example"`; `""` (default) for the page's own origin. Without it the
 *   `<meta name="bff-base-url">` tag is read.
 * @property {string} [bffPath] Prefix of the BFF's browser endpoints (default `/bff`).
 * @property {number} [timeoutMs] Give up on a call that has no response headers after this
 *   many milliseconds (`BffError` code `timeout`); default 30000; 0 turns it off.
 * @property {number} [refreshShareMs] A finished refresh answers every 401 of a request that
 *   started before it, and any 401 within this many milliseconds after it (default 2000).
 * @property {string | false} [channel] BroadcastChannel name for cross-tab sign-in/out
 *   (default `bff-client`); `false` turns it off.
 * @property {typeof fetch} [fetch] The fetch to use (default `globalThis.fetch`), e.g. for tests.
 */

/** Methods that never change state and therefore carry no CSRF header. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Statuses meaning "this session is gone" from the BFF's own endpoints. */
const SESSION_GONE = new Set(['session_required', 'session_expired']);

const KNOWN = new Set(/** @type {readonly string[]} */ (BFF_ERROR_CODES));

/**
 * An error answered by the BFF or an API behind it, or a failure to get an answer.
 * HTTP errors have the HTTP `status`; `network_error` and `timeout` have `status` 0.
 * An aborted request is NOT a BffError: it rejects with the signal's reason (an `AbortError`
 * `DOMException` by default), exactly as `fetch` does.
 */
export class BffError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when no answer came.
   * @param {ErrorCode | (string & {})} code Stable error code, e.g. `"csrf_failed"`.
   * @param {string} [description] The BFF's fixed description: for logs, not for users.
   */
  constructor(status, code, description = '') {
    super(description ? `${code}: ${description}` : code);
    this.name = 'BffError';
    /** @type {number} */
    this.status = status;
    /** @type {ErrorCode | (string & {})} */
    this.code = code;
    /** @type {string} */
    this.description = description;
  }
}

/**
 * The API asked for a stronger or more recent sign-in (RFC 9470). The session is unchanged;
 * call `login({acrValues, maxAge, returnTo})` with these values to step up, then repeat.
 */
export class StepUpRequired extends BffError {
  /**
   * @param {string} description
   * @param {string[]} acrValues The authentication levels the API accepts (may be empty).
   * @param {number | undefined} maxAge The most seconds since sign-in the API accepts.
   */
  constructor(description, acrValues, maxAge) {
    super(403, 'step_up_required', description);
    this.name = 'StepUpRequired';
    /** @type {string[]} */
    this.acrValues = acrValues;
    /** @type {number | undefined} */
    this.maxAge = maxAge;
  }
}

/**
 * True when `code` is one this package knows (the BFF's own codes or the client's), so that a
 * `switch` over it is checked for exhaustiveness.
 * @param {string} code
 * @returns {code is ErrorCode}
 */
export function isKnownErrorCode(code) {
  return KNOWN.has(code) || code === 'network_error' || code === 'timeout' ||
    code === 'invalid_response' || /^http_\d{3}$/.test(code);
}

/**
 * Turn a non-OK `Response` into a {@link BffError}, reading the `{"error",
 * "error_description"}` body when there is one. Reads a clone: the response stays readable.
 * @param {Response} response
 * @returns {Promise<BffError>}
 */
export async function readError(response) {
  /** @type {unknown} */
  let body = null;
  try {
    body = await response.clone().json();
  } catch {
    body = null;
  }
  const record = isRecord(body) ? body : {};
  const code = typeof record.error === 'string' && record.error ? record.error : `http_${response.status}`;
  const description = typeof record.error_description === 'string' ? record.error_description : '';
  if (code === 'step_up_required') {
    const acr = typeof record.acr_values === 'string' ? record.acr_values.split(' ').filter(Boolean) : [];
    const maxAge = typeof record.max_age === 'number' ? record.max_age : undefined;
    return new StepUpRequired(description, acr, maxAge);
  }
  return new BffError(response.status, code, description);
}

/** Logins in progress or done, per BFF and page URL: a second call gets the first's promise. */
/** @type {Map<string, Promise<PageLoadResult>>} */
const pageLoads = new Map();

/** Query parameters of an authorization response the BFF acts on (RFC 6749 §4.1.2, JARM). */
function isAuthorizationResponse(/** @type {string} */ pageUrl) {
  let params;
  try {
    params = new URL(pageUrl, 'http://x.invalid/').searchParams;
  } catch {
    return false;
  }
  return params.has('response') || (params.has('state') && (params.has('code') || params.has('error')));
}

/**
 * A client for one BFF. Most apps use the module-level functions, which share one default
 * client; create your own for a second BFF or for tests.
 */
export class BffClient {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    /** @type {string} */
    this.baseUrl = trimSlash(options.baseUrl ?? metaBaseUrl());
    /** @type {string} */
    this.bffPath = '/' + String(options.bffPath ?? '/bff').replace(/^\/+|\/+$/g, '');
    /** @type {number} */
    this.timeoutMs = options.timeoutMs ?? 30_000;
    /** @type {number} */
    this.refreshShareMs = options.refreshShareMs ?? 2_000;
    /** @private @type {typeof fetch} */
    this._fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    /** @private @type {string | null} */
    this._csrf = null;
    /** @private Whether this tab has seen a live session (for `session-expired`). */
    this._knownSignedIn = false;
    /** @private @type {Promise<boolean> | null} */
    this._refreshing = null;
    /** @private @type {{at: number, ok: boolean} | null} */
    this._lastRefresh = null;
    /** @private @type {Promise<boolean> | null} */
    this._csrfReload = null;
    /** @private @type {Map<SessionEventType, Set<(event: SessionEvent) => void>>} */
    this._listeners = new Map();
    /** @private @type {BroadcastChannel | null} */
    this._channel = null;
    const name = options.channel ?? 'bff-client';
    if (name !== false && typeof BroadcastChannel === 'function') {
      const channel = new BroadcastChannel(`${name}:${this.baseUrl}`);
      channel.onmessage = (message) => this._fromOtherTab(message.data);
      // Node: a channel must not keep the process alive
      const maybeUnref = /** @type {{unref?: () => void}} */ (/** @type {unknown} */ (channel));
      if (typeof maybeUnref.unref === 'function') maybeUnref.unref();
      this._channel = channel;
    }
  }

  /**
   * Listen for session events; returns the function that stops listening.
   * @param {SessionEventType} type
   * @param {(event: SessionEvent) => void} listener
   * @returns {() => void}
   */
  on(type, listener) {
    let set = this._listeners.get(type);
    if (!set) this._listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => {
      set?.delete(listener);
    };
  }

  /** Stop listening to other tabs (for tests and for clients created per component). */
  close() {
    this._channel?.close();
    this._channel = null;
  }

  /**
   * Finish a login when the page URL is the authorization server's redirect back; otherwise do
   * nothing (no request). Safe to call twice, concurrently or not (React StrictMode): every call
   * for the same URL gets the same result, and only one request reaches the BFF. On success the
   * address bar shows `returnTo`; on failure the authorization response is removed from it too.
   * @param {{url?: string}} [options] The page URL (default `window.location.href`).
   * @returns {Promise<PageLoadResult>}
   * @throws {BffError} When the BFF refuses the authorization response or cannot be reached.
   */
  handlePageLoad(options = {}) {
    const pageUrl = options.url ?? (typeof window !== 'undefined' ? window.location.href : '');
    if (!isAuthorizationResponse(pageUrl)) return Promise.resolve({ handled: false });
    const key = `${this.baseUrl}${this.bffPath}\n${pageUrl}`;
    let pending = pageLoads.get(key);
    if (!pending) {
      pending = this._finishLogin(pageUrl);
      pageLoads.set(key, pending);
    }
    return pending;
  }

  /**
   * @private
   * @param {string} pageUrl
   * @returns {Promise<PageLoadResult>}
   */
  async _finishLogin(pageUrl) {
    let result;
    try {
      result = await this._bffCall('POST', '/login/end', { pageUrl });
    } catch (err) {
      replaceUrl(null);
      throw err;
    }
    this._remember(result);
    const returnTo = isRelativePath(result.returnTo) ? result.returnTo : '/';
    replaceUrl(returnTo);
    this._knownSignedIn = true;
    this._emit('signed-in', 'this-tab');
    this._broadcast('signed-in');
    // a payment approval (RFC 9396): the id of its one-purpose token, for one X-BFF-Purpose call
    if (typeof result.purposeId === 'string') return { handled: true, isLoggedIn: true, returnTo, purposeId: result.purposeId };
    return { handled: true, isLoggedIn: true, returnTo };
  }

  /**
   * Start a login: asks the BFF for an authorization URL and navigates there.
   * @param {{returnTo?: string, extraParams?: Record<string, string>, navigate?: boolean, acrValues?: string[], maxAge?: number, authorizationDetails?: Record<string, unknown>[]}} [options]
   *   `returnTo`: relative path to come back to (default: the current path, query and hash).
   *   `extraParams`: authorization request parameters from the BFF's allowlist.
   *   `acrValues`, `maxAge`: a step-up (from a {@link StepUpRequired}); the session stays.
   *   `authorizationDetails`: approve one exact operation (RFC 9396); after the login,
   *   `handlePageLoad` gives its `purposeId`, to send once in the `X-BFF-Purpose` header.
   *   `navigate: false`: return the URL instead of going there.
   * @returns {Promise<string>} The authorization URL.
   * @throws {BffError}
   */
  async login(options = {}) {
    const here = typeof window !== 'undefined'
      ? window.location.pathname + window.location.search + window.location.hash : '/';
    /** @type {Record<string, unknown>} */
    const body = { returnTo: options.returnTo ?? here };
    if (options.extraParams) body.extraParams = options.extraParams;
    if (options.acrValues) body.acrValues = options.acrValues;
    if (options.maxAge !== undefined) body.maxAge = options.maxAge;
    if (options.authorizationDetails) body.authorizationDetails = options.authorizationDetails;
    const result = await this._bffCall('POST', '/login/start', body);
    const target = result.authorizationUrl;
    if (typeof target !== 'string' || !target) {
      throw new BffError(502, 'invalid_response', 'The BFF gave no authorization URL.');
    }
    if (options.navigate !== false && typeof window !== 'undefined') window.location.assign(target);
    return target;
  }

  /**
   * Read the current session. Signed out is an answer, not an error.
   * @returns {Promise<SessionInfo>}
   * @throws {BffError}
   */
  async session() {
    const result = await this._bffCall('GET', '/session');
    this._remember(result);
    if (result.isLoggedIn !== true) return { isLoggedIn: false };
    const claims = /** @type {Claims & Record<string, unknown>} */ (isRecord(result.claims) ? result.claims : {});
    const expiresAt = typeof result.expiresAt === 'number' ? result.expiresAt : 0;
    return { isLoggedIn: true, claims, expiresAt };
  }

  /**
   * Call an API through the BFF. Takes what `fetch` takes (a path, a URL or a `Request`) and
   * answers a `Response`; HTTP error statuses are not thrown (check `response.ok`, then
   * {@link readError}). Paths are relative to `baseUrl`. Adds the session cookie and, on
   * unsafe methods, the CSRF header. On a 401 it refreshes (one refresh shared by concurrent
   * 401s) and repeats once; on `403 csrf_failed` it fetches the current CSRF token and repeats
   * once. The body is buffered so it can be sent again.
   * @param {string | URL | Request} input
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   * @throws {BffError} `network_error` or `timeout` (status 0) when no answer came.
   * @throws {StepUpRequired} When the API asks for a stronger or more recent sign-in.
   * @throws {DOMException} The signal's reason when `init.signal` (or the Request's) aborts.
   */
  async fetchApi(input, init = {}) {
    const started = now();
    const request = await this._prepare(input, init);
    if (!SAFE_METHODS.has(request.method) && !this._csrf) await this._reloadCsrf();
    let response = await this._send(request);
    if (response.status === 401) {
      if (!(await this._refresh(started))) return response;
      response = await this._send(request);
    }
    if (response.status === 403 && !SAFE_METHODS.has(request.method) &&
        (await readError(response)).code === 'csrf_failed' && (await this._reloadCsrf())) {
      response = await this._send(request);
    }
    if (response.status === 403) {
      const error = await readError(response);
      if (error instanceof StepUpRequired) throw error;
    }
    return response;
  }

  /**
   * Sign out: the BFF revokes the tokens and clears its cookies; other tabs are told. Then the
   * page goes to the authorization server's logout page (or reloads the current path).
   * @param {{navigate?: boolean}} [options] `navigate: false`: return the logout URL instead.
   * @returns {Promise<string | null>} The AS's logout URL, if the BFF gave one.
   * @throws {BffError}
   */
  async logout(options = {}) {
    const result = await this._bffCall('POST', '/logout', {});
    this._csrf = null;
    this._knownSignedIn = false;
    this._emit('signed-out', 'this-tab');
    this._broadcast('signed-out');
    const target = typeof result.logoutUrl === 'string' && result.logoutUrl ? result.logoutUrl : null;
    if (options.navigate !== false && typeof window !== 'undefined') {
      window.location.assign(target ?? window.location.pathname);
    }
    return target;
  }

  // -- internals ------------------------------------------------------------------------------

  /**
   * @private
   * @param {string | URL | Request} input
   * @param {RequestInit} init
   */
  async _prepare(input, init) {
    const source = typeof Request === 'function' && input instanceof Request ? input : null;
    const target = source ? source.url : this._url(input instanceof URL ? input.href : String(input));
    const method = String(init.method ?? source?.method ?? 'GET').toUpperCase();
    const headers = new Headers(source ? source.headers : undefined);
    new Headers(init.headers).forEach((value, name) => headers.set(name, value));
    /** @type {BodyInit | null} */
    let body = null;
    if (init.body !== undefined && init.body !== null) {
      body = init.body;
      if (typeof body === 'string' && !new Headers(init.headers).has('Content-Type') &&
          !(source && source.headers.has('Content-Type'))) {
        headers.set('Content-Type', 'application/json');
      }
      if (isStream(body)) body = await new Response(body).arrayBuffer();
    } else if (source && !SAFE_METHODS.has(method) && source.body) {
      body = await source.clone().arrayBuffer();
    }
    if (!headers.has('Accept')) headers.set('Accept', 'application/json');
    const signal = init.signal ?? source?.signal ?? null;
    return { target, method, headers, body, signal, init };
  }

  /**
   * @private
   * @param {{target: string, method: string, headers: Headers, body: BodyInit | null,
   *   signal: AbortSignal | null, init: RequestInit}} request
   */
  _send(request) {
    const headers = new Headers(request.headers);
    if (!SAFE_METHODS.has(request.method) && this._csrf) headers.set('X-CSRF-Token', this._csrf);
    const { signal: _ignored, ...rest } = request.init;
    return this._raw(request.target, {
      ...rest, method: request.method, headers, body: request.body, credentials: 'include',
    }, request.signal);
  }

  /**
   * fetch with a timeout; an abort by the caller rejects as fetch does, never as BffError.
   * @private
   * @param {string} target
   * @param {RequestInit} init
   * @param {AbortSignal | null} outer
   * @returns {Promise<Response>}
   */
  async _raw(target, init, outer) {
    if (outer?.aborted) throw abortReason(outer);
    const controller = new AbortController();
    const forward = () => controller.abort(outer ? abortReason(outer) : undefined);
    outer?.addEventListener('abort', forward, { once: true });
    let timedOut = false;
    const timer = this.timeoutMs > 0
      ? setTimeout(() => { timedOut = true; controller.abort(); }, this.timeoutMs) : null;
    try {
      return await this._fetch(target, { ...init, signal: controller.signal });
    } catch (err) {
      if (outer?.aborted) throw abortReason(outer);
      if (timedOut) throw new BffError(0, 'timeout', 'The service did not answer in time.');
      throw new BffError(0, 'network_error', 'The service could not be reached.');
    } finally {
      if (timer !== null) clearTimeout(timer);
    }
  }

  /**
   * @private
   * @param {string} path
   */
  _url(path) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(path)) return path;
    return this.baseUrl + (path.startsWith('/') ? path : '/' + path);
  }

  /**
   * Call a BFF endpoint, parse JSON, throw BffError; recovers a stale CSRF token once.
   * @private
   * @param {string} method
   * @param {string} endpoint
   * @param {unknown} [body]
   * @returns {Promise<Record<string, unknown>>}
   */
  async _bffCall(method, endpoint, body) {
    const request = {
      target: this._url(this.bffPath + endpoint), method,
      headers: new Headers({ Accept: 'application/json', 'Content-Type': 'application/json' }),
      body: body === undefined ? null : JSON.stringify(body), signal: null, init: {},
    };
    let response = await this._send(request);
    if (response.status === 403 && (await readError(response)).code === 'csrf_failed' &&
        endpoint !== '/session' && (await this._reloadCsrf())) {
      response = await this._send(request);
    }
    if (!response.ok) {
      const error = await readError(response);
      if (response.status === 401 && SESSION_GONE.has(error.code)) this._sessionGone();
      throw error;
    }
    if (response.status === 204) return {};
    try {
      const parsed = /** @type {unknown} */ (await response.json());
      if (isRecord(parsed)) return parsed;
    } catch {
      // fall through
    }
    throw new BffError(502, 'invalid_response', 'The BFF answered with something that is not JSON.');
  }

  /**
   * Fetch the current CSRF token (another tab may have signed in again). One at a time.
   * @private
   * @returns {Promise<boolean>} True when a token was obtained.
   */
  _reloadCsrf() {
    if (!this._csrfReload) {
      const previous = this._csrf;
      this._csrfReload = this.session()
        .then(() => this._csrf !== null && this._csrf !== previous)
        .catch(() => false)
        .finally(() => { this._csrfReload = null; });
    }
    return this._csrfReload;
  }

  /**
   * One refresh for every 401 of requests that started before it finished, or within
   * `refreshShareMs` after it: a burst of 401s never causes a second refresh.
   * @private
   * @param {number} started When the failed request was sent.
   * @returns {Promise<boolean>} True when the session was refreshed.
   */
  _refresh(started) {
    if (this._refreshing) return this._refreshing;
    const last = this._lastRefresh;
    if (last && (started <= last.at || now() - last.at < this.refreshShareMs)) {
      return Promise.resolve(last.ok && started <= last.at);
    }
    this._refreshing = this._bffCall('POST', '/refresh', {})
      .then((result) => {
        this._remember(result);
        return true;
      })
      .catch(() => false)
      .then((ok) => {
        this._lastRefresh = { at: now(), ok };
        this._refreshing = null;
        return ok;
      });
    return this._refreshing;
  }

  /**
   * @private
   * @param {Record<string, unknown>} result
   */
  _remember(result) {
    if (typeof result.csrfToken === 'string' && result.csrfToken) {
      this._csrf = result.csrfToken;
      this._knownSignedIn = true;
    } else if (result.isLoggedIn === false) {
      this._sessionGone();
    }
  }

  /** @private */
  _sessionGone() {
    this._csrf = null;
    if (this._knownSignedIn) {
      this._knownSignedIn = false;
      this._emit('session-expired', 'this-tab');
    }
  }

  /**
   * @private
   * @param {unknown} data
   */
  _fromOtherTab(data) {
    if (!isRecord(data)) return;
    if (data.type === 'signed-out') {
      this._csrf = null;
      this._knownSignedIn = false;
      this._emit('signed-out', 'other-tab');
    } else if (data.type === 'signed-in') {
      this._csrf = null; // a new session: the next unsafe call fetches its token
      this._emit('signed-in', 'other-tab');
    }
  }

  /**
   * @private
   * @param {'signed-in' | 'signed-out'} type
   */
  _broadcast(type) {
    try {
      this._channel?.postMessage({ type });
    } catch {
      // a closed channel: nobody is listening
    }
  }

  /**
   * @private
   * @param {SessionEventType} type
   * @param {'this-tab' | 'other-tab'} source
   */
  _emit(type, source) {
    for (const listener of [...(this._listeners.get(type) ?? [])]) {
      try {
        listener({ type, source });
      } catch (err) {
        // a failing listener must not break the call that emitted; report it asynchronously
        setTimeout(() => { throw err; }, 0);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the default client and module-level functions

/** @type {BffClient | null} */
let defaultClient = null;

/**
 * Configure the default client used by the module-level functions (replaces it).
 * @param {ClientOptions} [options]
 * @returns {BffClient}
 */
export function configure(options = {}) {
  defaultClient?.close();
  defaultClient = new BffClient(options);
  return defaultClient;
}

/**
 * The default client, created on first use from the `bff-base-url` meta tag.
 * @returns {BffClient}
 */
export function getClient() {
  if (!defaultClient) defaultClient = new BffClient();
  return defaultClient;
}

/** @param {{url?: string}} [options] @returns {Promise<PageLoadResult>} */
export const handlePageLoad = (options) => getClient().handlePageLoad(options);
/** @param {{returnTo?: string, extraParams?: Record<string, string>, navigate?: boolean, acrValues?: string[], maxAge?: number, authorizationDetails?: Record<string, unknown>[]}} [options] @returns {Promise<string>} */
export const login = (options) => getClient().login(options);
/** @returns {Promise<SessionInfo>} */
export const session = () => getClient().session();
/** @param {string | URL | Request} input @param {RequestInit} [init] @returns {Promise<Response>} */
export const fetchApi = (input, init) => getClient().fetchApi(input, init);
/** @param {{navigate?: boolean}} [options] @returns {Promise<string | null>} */
export const logout = (options) => getClient().logout(options);
/** @param {SessionEventType} type @param {(event: SessionEvent) => void} listener @returns {() => void} */
export const onSessionEvent = (type, listener) => getClient().on(type, listener);

// ---------------------------------------------------------------------------------------------
// helpers

/** @returns {string} */
function metaBaseUrl() {
  if (typeof document === 'undefined') return '';
  const meta = document.querySelector('meta[name="bff-base-url"]');
  return meta ? meta.getAttribute('content') ?? '' : '';
}

/** @param {string} value */
function trimSlash(value) {
  return value.trim().replace(/\/+$/, '');
}

/**
 * @param {unknown} value
 * @returns {value is string}
 */
function isRelativePath(value) {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\');
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isRecord(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * @param {unknown} value
 * @returns {value is ReadableStream}
 */
function isStream(value) {
  return typeof ReadableStream === 'function' && value instanceof ReadableStream;
}

/** @param {AbortSignal} signal @returns {unknown} */
function abortReason(signal) {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

/** A monotonic clock where there is one. */
function now() {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/**
 * Swap the address bar entry so the code and state never stay in the URL or history;
 * `null` keeps the path and drops the query.
 * @param {string | null} target
 */
function replaceUrl(target) {
  if (typeof window === 'undefined' || !window.history) return;
  const { pathname, hash } = window.location;
  window.history.replaceState(target === null ? window.history.state : null, '', target ?? pathname + hash);
}
