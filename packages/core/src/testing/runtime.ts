/**
 * The runtime half of the conformance suite: the client and workers of core, end to end, on
 * the backend under test.
 */
import type { ConformanceOptions } from './options.js';
import { describeRuntimeBasics } from './runtime-basics.js';
import { describeRuntimeFailures } from './runtime-failures.js';
import { describeRuntimeInput } from './runtime-input.js';
import { describeRuntimeLeases } from './runtime-leases.js';
import { describeRuntimeOutcomes } from './runtime-outcomes.js';
import { describeRuntimePrefetch } from './runtime-prefetch.js';
import { describeRuntimeProcesses } from './runtime-processes.js';
import { describeRuntimeTenantReads } from './runtime-tenant-reads.js';
import { describeRuntimeTenantSchedules } from './runtime-tenant-schedules.js';
import { describeRuntimeTenants } from './runtime-tenants.js';

/** Registers every runtime conformance test with vitest. */
export function describeRuntime(options: ConformanceOptions): void {
  describeRuntimeBasics(options);
  describeRuntimeFailures(options);
  describeRuntimeInput(options);
  describeRuntimeLeases(options);
  describeRuntimeOutcomes(options);
  describeRuntimePrefetch(options);
  describeRuntimeProcesses(options);
  describeRuntimeTenants(options);
  describeRuntimeTenantSchedules(options);
  describeRuntimeTenantReads(options);
}
