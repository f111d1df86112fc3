import { describe } from 'vitest';
import type { ConformanceOptions } from './options.js';
import { describeAdmin } from './primitives/admin.js';
import { describeClaims } from './primitives/claims.js';
import { describeCompaction } from './primitives/compaction.js';
import { describeControl } from './primitives/control.js';
import { describeDependencies } from './primitives/dependencies.js';
import { describeDependencyRace } from './primitives/dependency-race.js';
import { describeEvents } from './primitives/events.js';
import { describeLeases } from './primitives/leases.js';
import { describeLifecycleData } from './primitives/lifecycle-data.js';
import { describeLimits } from './primitives/limits.js';
import { describeNotifications } from './primitives/notifications.js';
import { describeReclaim } from './primitives/reclaim.js';
import { describeRemoval } from './primitives/removal.js';
import { describeRuns } from './primitives/runs.js';
import { describeSchedules } from './primitives/schedules.js';
import { describeState } from './primitives/state.js';
import { describeTenancy } from './primitives/tenants.js';
import { describeUniqueKeys } from './primitives/unique.js';

/**
 * Registers the tests of every storage primitive. Each test gets a fresh storage from
 * `options.create()` and uses short leases and delays, so the group stays fast.
 */
export function describeStoragePrimitives(options: ConformanceOptions): void {
  describe(`${options.name} storage primitives`, () => {
    describeRuns(options);
    describeUniqueKeys(options);
    describeClaims(options);
    describeLeases(options);
    describeRemoval(options);
    describeReclaim(options);
    describeControl(options);
    describeDependencies(options);
    describeDependencyRace(options);
    describeState(options);
    describeEvents(options);
    describeLifecycleData(options);
    describeCompaction(options);
    describeSchedules(options);
    describeNotifications(options);
    describeLimits(options);
    describeAdmin(options);
    describeTenancy(options);
  });
}
