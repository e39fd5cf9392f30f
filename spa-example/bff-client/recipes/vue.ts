// Vue: a composable. Call it in setup(); listeners end with the component's scope.
import { onScopeDispose, readonly, ref, type Ref } from 'vue';
import { BffError, handlePageLoad, onSessionEvent, session, type SessionInfo } from '@token-handler/bff-client';

export function useBffSession(): { session: Readonly<Ref<SessionInfo | null>>; error: Readonly<Ref<BffError | null>> } {
  const current = ref<SessionInfo | null>(null);
  const error = ref<BffError | null>(null);
  const load = async () => {
    try {
      await handlePageLoad();
      current.value = await session();
      error.value = null;
    } catch (err) {
      error.value = err instanceof BffError ? err : new BffError(0, 'network_error');
    }
  };
  void load();
  const stop = [
    onSessionEvent('signed-in', () => void load()),
    onSessionEvent('signed-out', () => void load()),
    onSessionEvent('session-expired', () => void load()),
  ];
  onScopeDispose(() => stop.forEach((off) => off()));
  return { session: readonly(current), error: readonly(error) };
}
