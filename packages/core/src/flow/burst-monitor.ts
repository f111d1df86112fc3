/**
 * Reports concurrency bursts as `limit.burst` events. A claim result does not tell which runs a
 * limit let through only because of its burst multiplier. So after a worker of this client
 * starts a run under a concurrency limit with `burstMultiplier > 1`, the monitor counts the
 * running runs of that limit, and emits the event when there are more than `concurrency`.
 *
 * NOTE: bursts of rate limits are not reported: the storage contract exposes neither the claims
 * of a rate window nor which claims used burst capacity.
 */
import { errorMessage } from '../internal/decode.js';
import type { ClientInternals } from '../internal/internals.js';
import { callStorage } from '../internal/storage-call.js';
import type { LimitSpec } from '../storage/contract.js';
import { concurrencyUsage } from './limits.js';

/** How long the cached limits are trusted before they are read again, in ms. */
const LIMITS_TTL_MS = 5_000;
/** Checks of one limit and partition closer together than this are merged, in ms. */
const CHECK_DEBOUNCE_MS = 50;

export class BurstMonitor {
  readonly #internals: ClientInternals;
  #limits: LimitSpec[] | null = null;
  #loadedAt = 0;
  #loading: Promise<LimitSpec[]> | null = null;
  readonly #pending = new Map<string, NodeJS.Timeout>();
  #bursts = 0;

  constructor(internals: ClientInternals) {
    this.#internals = internals;
    internals.bus.on('job.started', (event) => {
      this.#onStarted(event.runId, event.job, event.queue).catch((error: unknown) =>
        this.#report(error),
      );
    });
  }

  /** Bursts observed by this client since it was created. */
  get burstCount(): number {
    return this.#bursts;
  }

  /** Forgets the cached limits, after this client changed them. */
  invalidate(): void {
    this.#limits = null;
  }

  /** Cancels pending checks. */
  close(): void {
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }

  async #onStarted(runId: string, job: string, queue: string): Promise<void> {
    const limits = await this.#burstLimits();
    for (const spec of limits) {
      const applies =
        (spec.scope === 'job' && spec.key === job) || (spec.scope !== 'job' && spec.key === queue);
      if (applies) this.#schedule(spec, runId);
    }
  }

  #schedule(spec: LimitSpec, runId: string): void {
    const id = `${spec.scope}:${spec.key}:${spec.scope === 'partition' ? runId : ''}`;
    if (this.#pending.has(id)) return;
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      this.#check(spec, runId).catch((error: unknown) => this.#report(error));
    }, CHECK_DEBOUNCE_MS);
    timer.unref();
    this.#pending.set(id, timer);
  }

  async #check(spec: LimitSpec, runId: string): Promise<void> {
    let partitionKey: string | undefined;
    if (spec.scope === 'partition') {
      const storage = this.#internals.storage;
      const run = await callStorage(storage, 'getRun', () => storage.getRun(runId));
      if (run === null || run.partitionKey === null) return;
      partitionKey = run.partitionKey;
    }
    const [usage] = await concurrencyUsage(this.#internals, spec, partitionKey);
    if (usage === undefined || !usage.bursting) return;
    this.#bursts++;
    this.#internals.bus.emit('limit.burst', usage);
  }

  /** Logs a failed check at debug level: the monitor only observes, and retries next start. */
  #report(error: unknown): void {
    this.#internals.logger.debug(
      { err: error },
      `Failed to check whether a concurrency limit is bursting: ${errorMessage(error)}`,
    );
  }

  async #burstLimits(): Promise<LimitSpec[]> {
    if (this.#limits !== null && Date.now() - this.#loadedAt < LIMITS_TTL_MS) return this.#limits;
    if (this.#loading === null) {
      const storage = this.#internals.storage;
      this.#loading = callStorage(storage, 'listLimits', () => storage.listLimits())
        .then((specs) => {
          this.#limits = specs.filter(
            (spec) => spec.concurrency !== undefined && (spec.burstMultiplier ?? 1) > 1,
          );
          this.#loadedAt = Date.now();
          return this.#limits;
        })
        .finally(() => {
          this.#loading = null;
        });
    }
    return this.#loading;
  }
}
