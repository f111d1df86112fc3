import { describe, expect, it } from 'vitest';
import {
  currentTenantId,
  InvalidOptionError,
  isTenantId,
  QuotaExceededError,
  RunNotFoundError,
  resolveRequestTenant,
  runWithTenant,
  TenantDeletedError,
  TenantNotFoundError,
  TenantSuspendedError,
  withRequestTenant,
  ZapJobsError,
} from '../src/index.js';

describe('tenant ids', () => {
  it('accepts the allowed alphabet up to 128 characters', () => {
    for (const id of ['a', 'ACME', 'org:42', 'eu-west.acme_1', 'x'.repeat(128)]) {
      expect(isTenantId(id)).toBe(true);
    }
  });

  it('rejects everything else', () => {
    const bad = ['', 'x'.repeat(129), 'a b', 'a/b', "a'b", 'a"b', 'a;b', 'é', 'a\u0000', 'a\nb'];
    for (const id of [...bad, 42, null, undefined, {}]) expect(isTenantId(id)).toBe(false);
  });
});

describe('ambient tenant', () => {
  it('runWithTenant scopes sync and async work', async () => {
    expect(currentTenantId()).toBeUndefined();
    const seen = await runWithTenant('acme', async () => {
      const before = currentTenantId();
      await new Promise((resolve) => setTimeout(resolve, 5));
      return [before, currentTenantId()];
    });
    expect(seen).toEqual(['acme', 'acme']);
    expect(currentTenantId()).toBeUndefined();
  });

  it('a null scope hides the outer tenant', () => {
    const inner = runWithTenant('acme', () => runWithTenant(null, () => currentTenantId()));
    expect(inner).toBeUndefined();
    expect(runWithTenant('a', () => runWithTenant('b', () => currentTenantId()))).toBe('b');
  });

  it('rejects an invalid tenant id', () => {
    expect(() => runWithTenant('bad id', () => 1)).toThrow(InvalidOptionError);
  });
});

describe('request tenant', () => {
  it('reads the header of a Node request', async () => {
    const request = { headers: { 'x-tenant-id': 'acme', host: 'example.test' } };
    expect(await resolveRequestTenant(request)).toBe('acme');
    expect(await resolveRequestTenant({ headers: {} })).toBeNull();
  });

  it('reads the header of a Fetch request, case-insensitively', async () => {
    const request = new Request('http://localhost/', { headers: { 'X-Org': 'globex' } });
    expect(await resolveRequestTenant(request, { header: 'X-ORG' })).toBe('globex');
    expect(await resolveRequestTenant(request)).toBeNull();
  });

  it('rejects repeated and invalid headers', async () => {
    const repeated = { headers: { 'x-tenant-id': ['a', 'b'] } };
    await expect(resolveRequestTenant(repeated)).rejects.toThrow(InvalidOptionError);
    // Fetch joins repeated headers with ", ", which is not a valid id either.
    const headers = new Headers();
    headers.append('x-tenant-id', 'a');
    headers.append('x-tenant-id', 'b');
    await expect(resolveRequestTenant(new Request('http://l/', { headers }))).rejects.toThrow(
      /x-tenant-id header: "a, b"/,
    );
    const injected = { headers: { 'x-tenant-id': "acme' or '1'='1" } };
    await expect(resolveRequestTenant(injected)).rejects.toThrow(InvalidOptionError);
  });

  it('uses a resolve function and enforces required', async () => {
    const request = { headers: {}, user: { org: 'initech' } };
    const resolve = async (r: typeof request) => r.user.org;
    expect(await resolveRequestTenant(request, { resolve })).toBe('initech');
    await expect(resolveRequestTenant({ headers: {} }, { required: true })).rejects.toThrow(
      /x-tenant-id header/,
    );
  });

  it('withRequestTenant runs the handler in the tenant scope', async () => {
    const request = { headers: { 'x-tenant-id': 'acme' } };
    const seen = await withRequestTenant(request, async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return currentTenantId();
    });
    expect(seen).toBe('acme');
    expect(await withRequestTenant({ headers: {} }, () => currentTenantId())).toBeUndefined();
  });
});

describe('tenancy errors', () => {
  it('match by class and code only', () => {
    const suspended = new TenantSuspendedError('acme');
    expect(suspended).toBeInstanceOf(TenantSuspendedError);
    expect(suspended).toBeInstanceOf(ZapJobsError);
    expect(suspended).not.toBeInstanceOf(TenantDeletedError);
    expect(suspended).not.toBeInstanceOf(QuotaExceededError);
    expect(new RunNotFoundError('r')).not.toBeInstanceOf(TenantSuspendedError);
    expect(new TenantNotFoundError('x')).toBeInstanceOf(TenantNotFoundError);
    expect(suspended.code as string).toBe('TENANT_SUSPENDED');
    expect(suspended.tenantId).toBe('acme');
  });

  it('QuotaExceededError names the quota and its reset', () => {
    const error = new QuotaExceededError({
      tenantId: 'acme',
      quota: 'runsPerHour',
      limit: 100,
      resetAt: Date.UTC(2026, 0, 1, 13),
    });
    expect(error.message).toBe(
      'Tenant "acme" exceeded its quota runsPerHour (100 runs created per hour), so the ' +
        'enqueue was rejected and nothing was stored. It resets at 2026-01-01T13:00:00.000Z.',
    );
    expect(error.resetAt).toEqual(new Date(Date.UTC(2026, 0, 1, 13)));
    const queued = new QuotaExceededError({
      tenantId: 'acme',
      quota: 'maxQueuedRuns',
      limit: 5,
      resetAt: null,
    });
    expect(queued.resetAt).toBeNull();
    expect(queued.message).toContain('frees up as queued runs of the tenant start');
  });
});
