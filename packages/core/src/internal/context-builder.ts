/**
 * Builds the `JobContext` a handler receives. Progress and checkpoint writes are fenced by the
 * attempt's lease: when the lease is gone they abort the attempt and throw LeaseLostError.
 */
import type { JobContext } from '../context.js';
import { LeaseLostError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ActiveRun, ExecutionEnv } from './execution.js';
import { parsePayload, serializePayload } from './serialize.js';
import { callStorage } from './storage-call.js';

/** State key under which `ctx.saveCheckpoint` stores its value. */
export const CHECKPOINT_STATE_KEY = 'checkpoint';

/**
 * `flushLogs` resolves once the log lines written so far are stored. Progress and checkpoint
 * writes wait for it, so a run's history keeps the order in which the handler wrote it.
 */
export function buildContext(
  env: ExecutionEnv,
  active: ActiveRun,
  logger: Logger,
  flushLogs: () => Promise<void>,
): JobContext {
  const { run, lease, abort } = active;
  const { storage, maxPayloadBytes } = env.internals;

  const leaseLost = (): LeaseLostError => {
    const error = new LeaseLostError(run.id);
    env.loseLease(active, error);
    return error;
  };

  return {
    runId: run.id,
    job: run.job,
    queue: run.queue,
    tenantId: run.tenantId,
    attempt: run.attempt,
    maxAttempts: run.maxAttempts,
    get signal(): AbortSignal {
      return abort.signal;
    },
    // A plugin may replace the signal (an extender returning `signal`, a wrapper assigning it);
    // the replacement then becomes a plain field.
    set signal(value: AbortSignal) {
      Object.defineProperty(this, 'signal', {
        value,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    },
    logger,

    async progress(value: unknown): Promise<void> {
      const serialized = serializePayload(value, {
        what: `Progress of run ${run.id}`,
        root: 'progress',
        maxBytes: maxPayloadBytes,
      });
      await flushLogs();
      const held = await callStorage(storage, 'setProgress', () =>
        storage.setProgress(lease, serialized),
      );
      if (!held) throw leaseLost();
    },

    async saveCheckpoint(value: unknown): Promise<void> {
      const serialized = serializePayload(value, {
        what: `Checkpoint of run ${run.id}`,
        root: 'checkpoint',
        maxBytes: maxPayloadBytes,
      });
      await flushLogs();
      const held = await callStorage(storage, 'putState', () =>
        storage.putState(run.id, CHECKPOINT_STATE_KEY, serialized, { lease }),
      );
      if (!held) throw leaseLost();
      if (run.historyLevel === 'full') {
        const sizeBytes = Buffer.byteLength(serialized, 'utf8');
        void env.events
          .append({
            runId: run.id,
            type: 'checkpoint',
            attempt: run.attempt,
            data: JSON.stringify({ sizeBytes }),
          })
          .catch(() => undefined);
      }
    },

    async loadCheckpoint<T = unknown>(): Promise<T | undefined> {
      const stored = await callStorage(storage, 'getState', () =>
        storage.getState(run.id, CHECKPOINT_STATE_KEY),
      );
      return stored === null ? undefined : (parsePayload(stored) as T);
    },
  };
}
