// A router guard: pages marked `requiresAuth` send signed-out users to the sign-in page and
// bring them back to the page they asked for (returnTo must be a relative path).
import { handlePageLoad, login, session } from '@token-handler/bff-client';
import type { Router } from 'vue-router';

export function guardSignedInRoutes(router: Router): void {
  router.beforeEach(async (to) => {
    if (!to.meta.requiresAuth) return true;
    await handlePageLoad();
    const current = await session();
    if (current.isLoggedIn) return true;
    await login({ returnTo: to.fullPath }); // navigates away to the authorization server
    return false;
  });
}
