/**
 * The ambient tenant: an AsyncLocalStorage scope that enqueues without an explicit `tenantId`
 * inherit. Workers open one around every handler of a run with a tenant, so follow-up runs
 * belong to the same tenant; web servers open one per request.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { checkTenantId } from './tenant-id.js';

interface TenantScope {
  readonly tenantId: string | null;
}

const STORAGE_KEY = Symbol.for('zapjobs.tenantScope');

/**
 * One storage per process, shared by duplicate installs of this package, so a scope opened by
 * one copy is seen by the client of another.
 */
function scopeStorage(): AsyncLocalStorage<TenantScope> {
  const holder = globalThis as { [STORAGE_KEY]?: AsyncLocalStorage<TenantScope> };
  holder[STORAGE_KEY] ??= new AsyncLocalStorage<TenantScope>();
  return holder[STORAGE_KEY];
}

/**
 * Runs `fn` with `tenantId` as the ambient tenant, so enqueues inside it (including in the
 * promises it starts) default to that tenant. `null` opens a scope without a tenant, which
 * hides an outer one. Returns what `fn` returns.
 */
export function runWithTenant<T>(tenantId: string | null, fn: () => T): T {
  const checked = tenantId === null ? null : checkTenantId('tenantId', tenantId);
  return scopeStorage().run({ tenantId: checked }, fn);
}

/** The ambient tenant id, or undefined outside any tenant scope or in a `null` scope. */
export function currentTenantId(): string | undefined {
  return scopeStorage().getStore()?.tenantId ?? undefined;
}

/**
 * Checks whether the handler of a run with this tenant needs a scope of its own. A run with a
 * tenant does. A run without one does only while a tenant is ambient around the worker, so
 * that the handler does not inherit it. Skipping the scope otherwise keeps AsyncLocalStorage,
 * and its cost per promise on Node 20, out of processes that use no tenants.
 */
export function needsRunTenantScope(tenantId: string | null): boolean {
  return tenantId !== null || (scopeStorage().getStore()?.tenantId ?? null) !== null;
}

/**
 * Runs `fn`, a run's handler and the execution wrappers around it, with the run's tenant as the
 * ambient tenant. Returns what `fn` returns.
 */
export function runInRunTenantScope<T>(tenantId: string | null, fn: () => T): T {
  return scopeStorage().run({ tenantId }, fn);
}
