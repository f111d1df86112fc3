import type { ConformanceOptions } from '../options.js';
import { describeTenantAdmission } from './tenants-admission.js';
import { describeTenantClaims } from './tenants-claims.js';
import { describeTenantFairness } from './tenants-fairness.js';
import { describeTenantRegistry } from './tenants-registry.js';

/** Registers the tests of the tenancy primitives: registry, quotas, claims and fair queues. */
export function describeTenancy(options: ConformanceOptions): void {
  describeTenantRegistry(options);
  describeTenantAdmission(options);
  describeTenantClaims(options);
  describeTenantFairness(options);
}
