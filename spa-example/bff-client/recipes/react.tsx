// React: a provider and a hook. StrictMode-safe: handlePageLoad() gives both effect runs the
// same promise, and the cleanup stops a finished load from touching an unmounted provider.
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { BffError, handlePageLoad, onSessionEvent, session, type SessionInfo } from '@token-handler/bff-client';

export type BffSessionState =
  | { status: 'loading' }
  | { status: 'ready'; session: SessionInfo }
  | { status: 'error'; error: BffError };

const BffSessionContext = createContext<BffSessionState>({ status: 'loading' });

export function BffSessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<BffSessionState>({ status: 'loading' });
  useEffect(() => {
    let active = true;
    const load = async () => {
      try {
        await handlePageLoad();
        const current = await session();
        if (active) setState({ status: 'ready', session: current });
      } catch (err) {
        if (active) setState({ status: 'error', error: err instanceof BffError ? err : new BffError(0, 'network_error') });
      }
    };
    void load();
    const stop = [
      onSessionEvent('signed-in', () => void load()),
      onSessionEvent('signed-out', () => void load()),
      onSessionEvent('session-expired', () => void load()),
    ];
    return () => {
      active = false;
      stop.forEach((off) => off());
    };
  }, []);
  return <BffSessionContext.Provider value={state}>{children}</BffSessionContext.Provider>;
}

export function useBffSession(): BffSessionState {
  return useContext(BffSessionContext);
}

// Usage: <StrictMode><BffSessionProvider><App /></BffSessionProvider></StrictMode>
export function Greeting() {
  const state = useBffSession();
  if (state.status !== 'ready' || !state.session.isLoggedIn) return null;
  return <p>Signed in as {state.session.claims.name ?? state.session.claims.sub}</p>;
}
