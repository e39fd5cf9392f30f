/**
 * True when `code` is one this package knows (the BFF's own codes or the client's), so that a
 * `switch` over it is checked for exhaustiveness.
 * @param {string} code
 * @returns {code is ErrorCode}
 */
export function isKnownErrorCode(code: string): code is ErrorCode;
/**
 * Turn a non-OK `Response` into a {@link BffError}, reading the `{"error",
 * "error_description"}` body when there is one. Reads a clone: the response stays readable.
 * @param {Response} response
 * @returns {Promise<BffError>}
 */
export function readError(response: Response): Promise<BffError>;
/**
 * Configure the default client used by the module-level functions (replaces it).
 * @param {ClientOptions} [options]
 * @returns {BffClient}
 */
export function configure(options?: ClientOptions): BffClient;
/**
 * The default client, created on first use from the `bff-base-url` meta tag.
 * @returns {BffClient}
 */
export function getClient(): BffClient;
export { BFF_ERROR_CODES };
/** The package version (kept equal to package.json by a test). */
export const VERSION: "0.2.0";
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
    constructor(status: number, code: ErrorCode | (string & {}), description?: string);
    /** @type {number} */
    status: number;
    /** @type {ErrorCode | (string & {})} */
    code: ErrorCode | (string & {});
    /** @type {string} */
    description: string;
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
    constructor(description: string, acrValues: string[], maxAge: number | undefined);
    /** @type {string[]} */
    acrValues: string[];
    /** @type {number | undefined} */
    maxAge: number | undefined;
}
/**
 * A client for one BFF. Most apps use the module-level functions, which share one default
 * client; create your own for a second BFF or for tests.
 */
export class BffClient {
    /** @param {ClientOptions} [options] */
    constructor(options?: ClientOptions);
    /** @type {string} */
    baseUrl: string;
    /** @type {string} */
    bffPath: string;
    /** @type {number} */
    timeoutMs: number;
    /** @type {number} */
    refreshShareMs: number;
    /** @private @type {typeof fetch} */
    private _fetch;
    /** @private @type {string | null} */
    private _csrf;
    /** @private Whether this tab has seen a live session (for `session-expired`). */
    private _knownSignedIn;
    /** @private @type {Promise<boolean> | null} */
    private _refreshing;
    /** @private @type {{at: number, ok: boolean} | null} */
    private _lastRefresh;
    /** @private @type {Promise<boolean> | null} */
    private _csrfReload;
    /** @private @type {Map<SessionEventType, Set<(event: SessionEvent) => void>>} */
    private _listeners;
    /** @private @type {BroadcastChannel | null} */
    private _channel;
    /**
     * Listen for session events; returns the function that stops listening.
     * @param {SessionEventType} type
     * @param {(event: SessionEvent) => void} listener
     * @returns {() => void}
     */
    on(type: SessionEventType, listener: (event: SessionEvent) => void): () => void;
    /** Stop listening to other tabs (for tests and for clients created per component). */
    close(): void;
    /**
     * Finish a login when the page URL is the authorization server's redirect back; otherwise do
     * nothing (no request). Safe to call twice, concurrently or not (React StrictMode): every call
     * for the same URL gets the same result, and only one request reaches the BFF. On success the
     * address bar shows `returnTo`; on failure the authorization response is removed from it too.
     * @param {{url?: string}} [options] The page URL (default `window.location.href`).
     * @returns {Promise<PageLoadResult>}
     * @throws {BffError} When the BFF refuses the authorization response or cannot be reached.
     */
    handlePageLoad(options?: {
        url?: string;
    }): Promise<PageLoadResult>;
    /**
     * @private
     * @param {string} pageUrl
     * @returns {Promise<PageLoadResult>}
     */
    private _finishLogin;
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
    login(options?: {
        returnTo?: string;
        extraParams?: Record<string, string>;
        navigate?: boolean;
        acrValues?: string[];
        maxAge?: number;
        authorizationDetails?: Record<string, unknown>[];
    }): Promise<string>;
    /**
     * Read the current session. Signed out is an answer, not an error.
     * @returns {Promise<SessionInfo>}
     * @throws {BffError}
     */
    session(): Promise<SessionInfo>;
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
    fetchApi(input: string | URL | Request, init?: RequestInit): Promise<Response>;
    /**
     * Sign out: the BFF revokes the tokens and clears its cookies; other tabs are told. Then the
     * page goes to the authorization server's logout page (or reloads the current path).
     * @param {{navigate?: boolean}} [options] `navigate: false`: return the logout URL instead.
     * @returns {Promise<string | null>} The AS's logout URL, if the BFF gave one.
     * @throws {BffError}
     */
    logout(options?: {
        navigate?: boolean;
    }): Promise<string | null>;
    /**
     * @private
     * @param {string | URL | Request} input
     * @param {RequestInit} init
     */
    private _prepare;
    /**
     * @private
     * @param {{target: string, method: string, headers: Headers, body: BodyInit | null,
     *   signal: AbortSignal | null, init: RequestInit}} request
     */
    private _send;
    /**
     * fetch with a timeout; an abort by the caller rejects as fetch does, never as BffError.
     * @private
     * @param {string} target
     * @param {RequestInit} init
     * @param {AbortSignal | null} outer
     * @returns {Promise<Response>}
     */
    private _raw;
    /**
     * @private
     * @param {string} path
     */
    private _url;
    /**
     * Call a BFF endpoint, parse JSON, throw BffError; recovers a stale CSRF token once.
     * @private
     * @param {string} method
     * @param {string} endpoint
     * @param {unknown} [body]
     * @returns {Promise<Record<string, unknown>>}
     */
    private _bffCall;
    /**
     * Fetch the current CSRF token (another tab may have signed in again). One at a time.
     * @private
     * @returns {Promise<boolean>} True when a token was obtained.
     */
    private _reloadCsrf;
    /**
     * One refresh for every 401 of requests that started before it finished, or within
     * `refreshShareMs` after it: a burst of 401s never causes a second refresh.
     * @private
     * @param {number} started When the failed request was sent.
     * @returns {Promise<boolean>} True when the session was refreshed.
     */
    private _refresh;
    /**
     * @private
     * @param {Record<string, unknown>} result
     */
    private _remember;
    /** @private */
    private _sessionGone;
    /**
     * @private
     * @param {unknown} data
     */
    private _fromOtherTab;
    /**
     * @private
     * @param {'signed-in' | 'signed-out'} type
     */
    private _broadcast;
    /**
     * @private
     * @param {SessionEventType} type
     * @param {'this-tab' | 'other-tab'} source
     */
    private _emit;
}
export function handlePageLoad(options?: {
    url?: string;
}): Promise<PageLoadResult>;
export function login(options?: {
    returnTo?: string;
    extraParams?: Record<string, string>;
    navigate?: boolean;
    acrValues?: string[];
    maxAge?: number;
    authorizationDetails?: Record<string, unknown>[];
}): Promise<string>;
export function session(): Promise<SessionInfo>;
export function fetchApi(input: string | URL | Request, init?: RequestInit): Promise<Response>;
export function logout(options?: {
    navigate?: boolean;
}): Promise<string | null>;
export function onSessionEvent(type: SessionEventType, listener: (event: SessionEvent) => void): () => void;
export type BffErrorCode = import("./error-codes.js").BffErrorCode;
/**
 * Codes this client produces itself, without an answer from the BFF:
 * `network_error` (BFF unreachable or CORS refused), `timeout` (no answer within `timeoutMs`),
 * `invalid_response` (an answer that is not the BFF's JSON).
 */
export type ClientErrorCode = "network_error" | "timeout" | "invalid_response";
/**
 * A code known to this package. An API behind the proxy may answer with codes of its own:
 * {@link BffError.code} is then that string (narrow with {@link isKnownErrorCode}).
 * `http_<status>` is used when an error response has no JSON body.
 */
export type ErrorCode = BffErrorCode | ClientErrorCode | `http_${number}`;
/**
 * Claims about the signed-in user, as filtered by the BFF's `oauth.claims` setting.
 */
export type Claims = {
    sub?: string | undefined;
    name?: string | undefined;
    given_name?: string | undefined;
    family_name?: string | undefined;
    preferred_username?: string | undefined;
    email?: string | undefined;
};
/**
 * `expiresAt` is when the session ends if unused: seconds since the Unix epoch (multiply by
 * 1000 for `new Date()`).
 */
export type SessionInfo = {
    isLoggedIn: false;
} | {
    isLoggedIn: true;
    claims: Claims & Record<string, unknown>;
    expiresAt: number;
};
/**
 * What {@link BffClient.handlePageLoad} did.
 * `handled: false`: the URL carried no authorization response, nothing was sent.
 * `handled: true`: the login finished, the address bar now shows `returnTo`.
 */
export type PageLoadResult = {
    handled: false;
} | {
    handled: true;
    isLoggedIn: true;
    returnTo: string;
    purposeId?: string;
};
/**
 * Session events. `source` is `'this-tab'` or `'other-tab'` (told by BroadcastChannel).
 * - `signed-in`: a login finished (here, or in another tab: this tab's CSRF token is stale).
 * - `signed-out`: `logout()` ran (here or in another tab).
 * - `session-expired`: a session this tab knew about is gone (refresh refused, or the BFF
 *   answered `isLoggedIn: false`). Not sent when the tab never had a session.
 */
export type SessionEventType = "signed-in" | "signed-out" | "session-expired";
export type SessionEvent = {
    type: SessionEventType;
    source: "this-tab" | "other-tab";
};
export type ClientOptions = {
    /**
     * Origin (and optional path) of the BFF, e.g.
     * `"https://bff.bank.example"`; `""` (default) for the page's own origin. Without it the
     * `<meta name="bff-base-url">` tag is read.
     */
    baseUrl?: string | undefined;
    /**
     * Prefix of the BFF's browser endpoints (default `/bff`).
     */
    bffPath?: string | undefined;
    /**
     * Give up on a call that has no response headers after this
     * many milliseconds (`BffError` code `timeout`); default 30000; 0 turns it off.
     */
    timeoutMs?: number | undefined;
    /**
     * A finished refresh answers every 401 of a request that
     * started before it, and any 401 within this many milliseconds after it (default 2000).
     */
    refreshShareMs?: number | undefined;
    /**
     * BroadcastChannel name for cross-tab sign-in/out
     * (default `bff-client`); `false` turns it off.
     */
    channel?: string | false | undefined;
    /**
     * The fetch to use (default `globalThis.fetch`), e.g. for tests.
     */
    fetch?: typeof fetch | undefined;
};
import { BFF_ERROR_CODES } from './error-codes.js';
