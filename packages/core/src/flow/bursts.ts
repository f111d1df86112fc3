/**
 * Reports burst usage: the storage marks each claimed run that a limit admitted only thanks to
 * its `burstMultiplier` (see `ClaimedRun.bursts`), and the claiming worker turns each mark into
 * a `limit.burst` event, which the telemetry counts.
 */
import type { EventBus } from '../events.js';
import type { BurstUse, ClaimedRun } from '../storage/contract.js';
import { fromSpec } from './limits.js';
import type { LimitBurst } from './types.js';

/** Emits one `limit.burst` event per burst use of each claimed run, in claim order. */
export function emitBursts(bus: EventBus, workerId: string, runs: readonly ClaimedRun[]): void {
  for (const run of runs) {
    // A backend written against an older contract may leave the field out.
    const uses: readonly BurstUse[] = run.bursts ?? [];
    for (const use of uses) bus.emit('limit.burst', toBurstEvent(run, use, workerId));
  }
}

function toBurstEvent(run: ClaimedRun, use: BurstUse, workerId: string): LimitBurst {
  const limit = fromSpec(use.limit);
  const fields = {
    limit,
    partitionKey: use.partitionKey,
    runId: run.id,
    job: run.job,
    queue: run.queue,
    tenantId: run.tenantId,
    workerId,
    bursting: true as const,
  };
  if (use.kind === 'concurrency') {
    const burstConcurrency = Math.floor((limit.concurrency ?? 0) * limit.burstMultiplier);
    return { ...fields, kind: 'concurrency', running: use.count, burstConcurrency };
  }
  const burstRate = Math.floor((limit.rate?.limit ?? 0) * limit.burstMultiplier);
  return { ...fields, kind: 'rate', claims: use.count, burstRate };
}
