/**
 * Stall recovery: runs whose lease expired without a heartbeat are made available again, or
 * moved to dead letter on their last attempt, by whichever worker gets there first.
 */
import { StalledError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../logger.js';
import type { Storage } from '../storage/contract.js';
import { errorMessage, serializeError } from './decode.js';

/** Maximum runs one `reclaimExpired` call handles. */
const RECLAIM_BATCH = 100;
/** Maximum calls per round, so a huge backlog cannot keep one worker busy indefinitely. */
const MAX_BATCHES = 10;

/**
 * Reclaims expired leases, logs each stalled run and emits `job.stalled` (and `job.failed` for
 * a run moved to dead letter). Returns whether any run became available. Never throws.
 */
export async function reclaimExpiredRuns(
  storage: Storage,
  bus: EventBus,
  logger: Logger,
): Promise<boolean> {
  let madeAvailable = false;
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    let reclaimed: Awaited<ReturnType<Storage['reclaimExpired']>>;
    try {
      reclaimed = await storage.reclaimExpired(RECLAIM_BATCH);
    } catch (error) {
      logger.warn({ err: error }, `Failed to reclaim expired leases: ${errorMessage(error)}`);
      return madeAvailable;
    }

    for (const run of reclaimed) {
      const willRetry = run.state === 'available';
      madeAvailable ||= willRetry;
      logger.warn(
        { runId: run.runId, job: run.job, attempt: run.attempt },
        `Run ${run.runId} of job "${run.job}" stalled on attempt ${run.attempt} of ` +
          `${run.maxAttempts}: its lease expired without a heartbeat, so it ` +
          (willRetry ? 'is available again' : 'moved to dead letter'),
      );
      const event = {
        runId: run.runId,
        job: run.job,
        queue: run.queue,
        tenantId: run.tenantId ?? null,
        attempt: run.attempt,
      };
      bus.emit('job.stalled', { ...event, willRetry });
      if (!willRetry) {
        const error = serializeError(new StalledError(run.runId, run.attempt));
        bus.emit('job.failed', { ...event, error });
      }
    }
    if (reclaimed.length < RECLAIM_BATCH) break;
  }
  return madeAvailable;
}
