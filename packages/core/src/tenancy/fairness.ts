/**
 * Fair queues of a client, `zap.fairness`: inside a fair queue, workers serve tenants (or
 * partition keys) in proportion to their weights instead of strict priority order.
 */
import { InvalidOptionError } from '../errors.js';
import { assertKnownKeys, assertPlainObject, checkName, checkOneOf } from '../internal/check.js';
import type { ClientInternals } from '../internal/internals.js';
import { callStorage } from '../internal/storage-call.js';
import type { FairnessSpec } from '../storage/tenancy-contract.js';
import { checkWeight, tenancyMethod } from './options.js';
import { checkTenantId } from './tenant-id.js';

/** Options of `zap.fairness.set`. */
export interface FairnessOptions {
  /**
   * What the queue is shared by: `tenant` (the run's tenant id; weights default to each
   * tenant's registry weight) or `partition` (the run's partition key). Runs without the key
   * share as one more key of weight 1.
   */
  by: 'tenant' | 'partition';
  /** Weights by key value, from 0.001 to 1,000,000; they override registry weights. */
  weights?: Readonly<Record<string, number>>;
}

/** Most entries of `weights`; weights of many keys belong in the tenant registry. */
const MAX_WEIGHT_ENTRIES = 10_000;

export class FairnessAdmin {
  readonly #internals: ClientInternals;

  /** @internal Use `zap.fairness`. */
  constructor(internals: ClientInternals) {
    this.#internals = internals;
  }

  /**
   * Makes `queue` fair, or replaces its settings. Applies across every worker at once, runs
   * already queued included.
   */
  async set(queue: string, options: FairnessOptions): Promise<void> {
    await this.#internals.ensureReady('set fairness');
    const { storage } = this.#internals;
    const spec: FairnessSpec = { queue: checkName('queue', queue), by: 'tenant' };
    assertPlainObject('options', options);
    assertKnownKeys(options, ['by', 'weights'], '', ' of fairness.set');
    spec.by = checkOneOf('by', options.by, ['tenant', 'partition'] as const);
    if (options.weights !== undefined) spec.weights = checkWeights(spec.by, options.weights);
    await callStorage(storage, 'setFairness', () => tenancyMethod(storage, 'setFairness')(spec));
  }

  /** Returns `queue` to plain priority order. Resolves false when it was not fair. */
  async delete(queue: string): Promise<boolean> {
    await this.#internals.ensureReady('delete fairness');
    const { storage } = this.#internals;
    const name = checkName('queue', queue);
    return callStorage(storage, 'deleteFairness', () =>
      tenancyMethod(storage, 'deleteFairness')(name),
    );
  }

  /** Lists the fair queues and their settings. */
  async list(): Promise<FairnessSpec[]> {
    await this.#internals.ensureReady('list fairness');
    const { storage } = this.#internals;
    return callStorage(storage, 'listFairness', () => tenancyMethod(storage, 'listFairness')());
  }
}

function checkWeights(by: FairnessSpec['by'], value: unknown): Record<string, number> {
  assertPlainObject('weights', value);
  const entries = Object.entries(value);
  if (entries.length > MAX_WEIGHT_ENTRIES) {
    throw new InvalidOptionError(
      'weights',
      `${entries.length} entries`,
      `at most ${MAX_WEIGHT_ENTRIES} entries; set tenant weights with zap.tenants.upsert()`,
    );
  }
  const weights: Record<string, number> = {};
  for (const [key, weight] of entries) {
    if (by === 'tenant') checkTenantId(`weights key "${key}"`, key);
    else checkName(`weights key "${key}"`, key);
    weights[key] = checkWeight(`weights["${key}"]`, weight);
  }
  return weights;
}
