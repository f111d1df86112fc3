/**
 * `zap.limits`: concurrency and rate limits per queue, per job, or per partition key of a
 * queue, enforced by the storage at claim time across every worker process.
 *
 * A run held back by a limit stays claimable: it is not failed, uses no attempt and gets no
 * retry backoff. With `burstMultiplier`, a claim may exceed the limit up to that multiple
 * while the claiming worker has no other claimable run waiting, and the limit applies again as
 * soon as other work waits. The worker that claims a run past a normal cap emits `limit.burst`
 * for it (see `flow/bursts.ts`).
 */
import { InvalidOptionError } from '../errors.js';
import { assertKnownKeys, assertPlainObject, checkInteger, checkName } from '../internal/check.js';
import type { ClientInternals } from '../internal/internals.js';
import { callStorage } from '../internal/storage-call.js';
import type { LimitSpec, RunRecord } from '../storage/contract.js';
import type { Limit, LimitOptions, LimitTarget, LimitUsage } from './types.js';

const TARGET_KEYS = ['queue', 'job', 'partitionOf'] as const;
const OPTION_KEYS = [...TARGET_KEYS, 'concurrency', 'rate', 'burstMultiplier'];
/** Running runs read per page when computing partition usage. */
const USAGE_PAGE = 1_000;

/** Converts a target to the contract's scope and key. */
export function toScope(target: unknown, option = 'target'): Pick<LimitSpec, 'scope' | 'key'> {
  assertPlainObject(option, target);
  const present = TARGET_KEYS.filter(
    (key) => (target as Record<string, unknown>)[key] !== undefined,
  );
  if (present.length !== 1) {
    throw new InvalidOptionError(
      option,
      target,
      'exactly one of queue, job and partitionOf (a queue whose partition keys are limited)',
    );
  }
  const key = present[0]!;
  const value = checkName(key, (target as Record<string, unknown>)[key]);
  return { scope: key === 'partitionOf' ? 'partition' : key, key: value };
}

/** Converts a stored limit to the public shape. */
export function fromSpec(spec: LimitSpec): Limit {
  const target: LimitTarget =
    spec.scope === 'queue'
      ? { queue: spec.key }
      : spec.scope === 'job'
        ? { job: spec.key }
        : { partitionOf: spec.key };
  const limit: Limit = { ...target, burstMultiplier: spec.burstMultiplier ?? 1 };
  if (spec.concurrency !== undefined) limit.concurrency = spec.concurrency;
  if (spec.rate !== undefined) limit.rate = { ...spec.rate };
  return limit;
}

/** Checks limit options and builds the contract's limit. */
export function buildLimitSpec(options: unknown): LimitSpec {
  assertPlainObject('options', options);
  assertKnownKeys(options, OPTION_KEYS, '', ' of limits.set');
  const spec: LimitSpec = toScope(options, 'options');
  const value = options as LimitOptions;
  if (value.concurrency === undefined && value.rate === undefined) {
    throw new InvalidOptionError(
      'concurrency',
      value.concurrency,
      'a concurrency or a rate, or call limits.delete() to remove the limit',
    );
  }
  if (value.concurrency !== undefined) {
    spec.concurrency = checkInteger('concurrency', value.concurrency, 0, 1_000_000);
  }
  if (value.rate !== undefined) {
    assertPlainObject('rate', value.rate);
    assertKnownKeys(value.rate, ['limit', 'periodMs'], 'rate.', '');
    spec.rate = {
      limit: checkInteger('rate.limit', value.rate.limit, 0, 1_000_000_000),
      periodMs: checkInteger('rate.periodMs', value.rate.periodMs, 1, 2_147_483_647),
    };
  }
  if (value.burstMultiplier !== undefined) {
    const multiplier = value.burstMultiplier;
    const valid = typeof multiplier === 'number' && multiplier >= 1 && multiplier <= 100;
    if (!valid) {
      throw new InvalidOptionError('burstMultiplier', multiplier, 'a number from 1 to 100');
    }
    if (multiplier > 1) spec.burstMultiplier = multiplier;
  }
  return spec;
}

/** Limits of a client's storage; reach it as `zap.limits`. */
export class Limits {
  readonly #internals: ClientInternals;

  /** @internal Created by the client. */
  constructor(internals: ClientInternals) {
    this.#internals = internals;
  }

  /** Creates or replaces the limit of a queue, job or queue's partitions; returns it. */
  async set(options: LimitOptions): Promise<Limit> {
    await this.#internals.ensureReady('set a limit');
    const spec = buildLimitSpec(options);
    const storage = this.#internals.storage;
    await callStorage(storage, 'setLimit', () => storage.setLimit(spec));
    if (spec.scope === 'job') this.#warnUnknownJob(spec.key);
    return fromSpec(spec);
  }

  /** Warns once per call when a job limit names a job this client has not registered. */
  #warnUnknownJob(job: string): void {
    const { registry, logger } = this.#internals;
    if (registry.get(job) !== undefined) return;
    const names = registry.names();
    const known = names.length === 0 ? 'none' : names.map((name) => `"${name}"`).join(', ');
    logger.warn(
      { job },
      `Limit stored for job "${job}", which this client has not registered (known jobs: ` +
        `${known}). It applies once a worker runs that job; check the name if it is a typo.`,
    );
  }

  /** Removes a limit; returns false when there was none. */
  async delete(target: LimitTarget): Promise<boolean> {
    await this.#internals.ensureReady('delete a limit');
    const { scope, key } = toScope(target);
    const storage = this.#internals.storage;
    return callStorage(storage, 'deleteLimit', () => storage.deleteLimit(scope, key));
  }

  /** Lists every limit. */
  async list(): Promise<Limit[]> {
    await this.#internals.ensureReady('list limits');
    const storage = this.#internals.storage;
    const specs = await callStorage(storage, 'listLimits', () => storage.listLimits());
    return specs.map(fromSpec);
  }

  /**
   * Reports how many runs run under each concurrency limit now, and whether a limit is
   * bursting. A `partitionOf` limit reports one entry per partition key with running runs.
   * Costs one count per queue or job limit and a scan of the running runs per partition limit.
   */
  async usage(): Promise<LimitUsage[]> {
    await this.#internals.ensureReady('report limit usage');
    const storage = this.#internals.storage;
    const specs = await callStorage(storage, 'listLimits', () => storage.listLimits());
    const usage: LimitUsage[] = [];
    for (const spec of specs) {
      if (spec.concurrency === undefined) continue;
      usage.push(...(await concurrencyUsage(this.#internals, spec)));
    }
    return usage;
  }
}

/** Usage entries of one concurrency limit: one, or one per partition key. */
async function concurrencyUsage(
  internals: ClientInternals,
  spec: LimitSpec,
): Promise<LimitUsage[]> {
  const storage = internals.storage;
  const limit = fromSpec(spec);
  const concurrency = spec.concurrency ?? 0;
  const entry = (key: string | null, running: number): LimitUsage => {
    const burstConcurrency = Math.floor(concurrency * (spec.burstMultiplier ?? 1));
    return { limit, partitionKey: key, running, burstConcurrency, bursting: running > concurrency };
  };

  if (spec.scope !== 'partition') {
    const filter = spec.scope === 'queue' ? { queue: spec.key } : { job: spec.key };
    const counts = await callStorage(storage, 'countRuns', () => storage.countRuns(filter));
    return [entry(null, counts.running)];
  }

  const running = new Map<string, number>();
  let cursor: string | undefined;
  do {
    const page: { items: RunRecord[]; nextCursor: string | null } = await callStorage(
      storage,
      'listRuns',
      () =>
        storage.listRuns(
          { queue: spec.key, states: ['running'] },
          cursor === undefined ? { limit: USAGE_PAGE } : { limit: USAGE_PAGE, cursor },
        ),
    );
    for (const run of page.items) {
      if (run.partitionKey !== null) {
        running.set(run.partitionKey, (running.get(run.partitionKey) ?? 0) + 1);
      }
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return [...running].map(([key, count]) => entry(key, count));
}
