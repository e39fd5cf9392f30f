// Minimal local declarations of the parts of Vue 3 and vue-router 4 the recipes use, with
// their real signatures, so the recipes type-check without installing Vue.
declare module 'vue' {
  export interface Ref<T> { value: T }
  export function ref<T>(value: T): Ref<T>;
  export function readonly<T extends object>(value: T): Readonly<T>;
  export function onScopeDispose(fn: () => void): void;
}

declare module 'vue-router' {
  export interface RouteMeta { requiresAuth?: boolean; [key: string]: unknown }
  export interface RouteLocationNormalized { fullPath: string; path: string; meta: RouteMeta }
  export type NavigationGuardReturn = void | Error | boolean | string;
  export interface Router {
    beforeEach(guard: (to: RouteLocationNormalized, from: RouteLocationNormalized) =>
      NavigationGuardReturn | Promise<NavigationGuardReturn>): () => void;
  }
}
