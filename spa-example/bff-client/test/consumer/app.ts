// A small strict TypeScript consumer of the published types.
import {
  BFF_ERROR_CODES, BffClient, BffError, VERSION, configure, fetchApi, handlePageLoad, isKnownErrorCode,
  login, logout, onSessionEvent, readError, session,
  type BffErrorCode, type ErrorCode, type PageLoadResult, type SessionInfo,
} from '@token-handler/bff-client';

configure({ baseUrl: '', timeoutMs: 10_000 });
const version: string = VERSION;
const codes: readonly BffErrorCode[] = BFF_ERROR_CODES;

function userText(code: ErrorCode): string {
  switch (code) {
    case 'csrf_failed':
    case 'origin_not_allowed':
      return 'Please reload the page.';
    case 'session_required':
    case 'session_expired':
      return 'Please sign in again.';
    case 'network_error':
    case 'timeout':
      return 'Check your connection.';
    default:
      return 'Something went wrong.';
  }
}

export async function main(): Promise<string> {
  const loaded: PageLoadResult = await handlePageLoad();
  if (loaded.handled) console.log(loaded.returnTo.startsWith('/'));
  const me: SessionInfo = await session();
  if (!me.isLoggedIn) {
    await login({ returnTo: '/accounts', extraParams: { ui_locales: 'en' } });
    return 'signed out';
  }
  const name: string = me.claims.name ?? me.claims.sub ?? 'Customer';
  const expires = new Date(me.expiresAt * 1000);
  const controller = new AbortController();
  try {
    const response = await fetchApi(new URL('/api/accounts', location.origin), { signal: controller.signal });
    if (!response.ok) {
      const error: BffError = await readError(response);
      return isKnownErrorCode(error.code) ? userText(error.code) : `API said ${error.code}`;
    }
    await fetchApi(new Request('/api/payments', { method: 'POST', body: '{}' }));
  } catch (err) {
    if (err instanceof BffError) return `${err.status} ${userText(isKnownErrorCode(err.code) ? err.code : 'server_error')}`;
    if (err instanceof DOMException && err.name === 'AbortError') return 'cancelled';
    throw err;
  }
  const off = onSessionEvent('session-expired', (event) => console.log(event.type, event.source));
  off();
  const second = new BffClient({ baseUrl: 'https://bff.example', channel: false });
  second.close();
  const logoutUrl: string | null = await logout({ navigate: false });
  return `${name} ${expires.toISOString()} ${version} ${codes.length} ${logoutUrl ?? ''}`;
}
