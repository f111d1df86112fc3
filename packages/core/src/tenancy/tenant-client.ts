/**
 * A client limited to one tenant, `zap.forTenant(id)`: every read and write it makes is
 * limited to that tenant's runs, schedules and events, and a run or schedule of another tenant
 * behaves as if it did not exist.
 */
import type { EnqueueManyItem, JobName, JobNamed, ZapJobs } from '../client.js';
import { InvalidOptionError, RunNotFoundError } from '../errors.js';
import type { TenantHistory } from '../history/history.js';
import { assertKnownKeys, assertPlainObject, checkRunId } from '../internal/check.js';
import type { AnyJob, InputOf, OutputOf } from '../job.js';
import {
  checkWaitOptions,
  type EnqueueAndWaitOptions,
  type WaitOptions,
} from '../relay/options.js';
import type {
  CountRunsOptions,
  EnqueueOptions,
  EnqueueResult,
  ListEventsOptions,
  ListRunsOptions,
  Run,
  RunEvent,
} from '../run.js';
import type { TenantSchedules } from '../schedules/api.js';
import type { CancelResult, RunState } from '../storage/contract.js';
import { runWithTenant } from './context.js';
import { checkTenantId } from './tenant-id.js';

/** Options of `zap.forTenant`. */
export interface TenantClientOptions {
  /**
   * Sets each run's `partitionKey` to the tenant id when the enqueue or the schedule
   * declaration does not set one, so partition limits (concurrency, rate, burst) of a queue
   * apply per tenant. Default false.
   */
  partitionByTenant?: boolean;
}

/**
 * A view of a {@link ZapJobs} client limited to one tenant. Enqueues and schedules store the
 * tenant id on every run. `getRun`, `cancel`, `retryRuns`, `listRuns`, `countRuns`,
 * `listEvents`, `waitFor` and `history` read only the tenant's runs, so a guessed id of another
 * tenant's run is reported as not found. `schedules` reaches only the tenant's schedules, whose
 * names are unique per tenant.
 */
export class TenantClient<Jobs extends AnyJob = AnyJob> {
  /** The tenant every call is limited to. */
  readonly tenantId: string;
  /**
   * The tenant's schedules: declarations belong to the tenant and fire runs of it, and a name
   * addresses only the tenant's schedule of that name. See `zap.schedules` for each method.
   */
  readonly schedules: TenantSchedules;
  /** Timelines, queries, export, replay and re-runs of the tenant's runs only. */
  readonly history: TenantHistory;

  readonly #client: ZapJobs<Jobs>;
  readonly #partitionByTenant: boolean;

  /** @internal Use `zap.forTenant(id)`. */
  constructor(client: ZapJobs<Jobs>, tenantId: string, options: TenantClientOptions = {}) {
    this.tenantId = checkTenantId('tenantId', tenantId);
    assertPlainObject('options', options);
    assertKnownKeys(options, ['partitionByTenant'], '', ' of forTenant');
    if (options.partitionByTenant !== undefined && typeof options.partitionByTenant !== 'boolean') {
      throw new InvalidOptionError('partitionByTenant', options.partitionByTenant, 'true or false');
    }
    this.#client = client;
    this.#partitionByTenant = options.partitionByTenant === true;
    this.schedules = client.schedules.forTenant(this.tenantId, this.#partitionByTenant);
    this.history = client.history.forTenant(this.tenantId);
  }

  /** Enqueues a run owned by this tenant; see `ZapJobs.enqueue`. */
  enqueue<J extends AnyJob>(
    job: J,
    input: InputOf<J>,
    options?: EnqueueOptions,
  ): Promise<EnqueueResult>;
  enqueue<N extends JobName<Jobs>>(
    job: N,
    input: InputOf<JobNamed<Jobs, N>>,
    options?: EnqueueOptions,
  ): Promise<EnqueueResult>;
  async enqueue(
    job: AnyJob | string,
    input: unknown,
    options?: EnqueueOptions,
  ): Promise<EnqueueResult> {
    const scoped = this.#scopeOptions(options, 'options');
    await this.#checkParents([scoped]);
    return (
      this.#client.enqueue as (j: unknown, i: unknown, o: EnqueueOptions) => Promise<EnqueueResult>
    )(job, input, scoped);
  }

  /** Enqueues many runs owned by this tenant in one atomic storage call. */
  async enqueueMany(
    items: readonly EnqueueManyItem<Jobs>[],
    options?: { transaction?: unknown },
  ): Promise<EnqueueResult[]> {
    if (!Array.isArray(items)) throw new InvalidOptionError('items', items, 'an array');
    const scoped = items.map((item: unknown, index) => {
      assertPlainObject(`items[${index}]`, item);
      const entry = item as EnqueueManyItem<Jobs>;
      return { ...entry, options: this.#scopeOptions(entry.options, `items[${index}].options`) };
    }) as EnqueueManyItem<Jobs>[];
    await this.#checkParents(scoped.map((item) => item.options));
    return this.#client.enqueueMany(scoped, options);
  }

  /** Returns a run of this tenant, decoded, or null for an unknown id or another tenant's run. */
  async getRun<I = unknown, O = unknown>(runId: string): Promise<Run<I, O> | null> {
    const run = await this.#client.getRun<I, O>(runId);
    return run !== null && run.tenantId === this.tenantId ? run : null;
  }

  /** Cancels a run of this tenant; RunNotFoundError for an unknown id or another tenant's run. */
  async cancel(runId: string): Promise<CancelResult> {
    checkRunId('runId', runId);
    // A run's tenant never changes, so checking it before the cancel is race-free.
    if ((await this.getRun(runId)) === null) throw new RunNotFoundError(runId);
    return this.#client.cancel(runId);
  }

  /** Moves failed or cancelled runs of this tenant back to `available`; ignores other ids. */
  async retryRuns(runIds: readonly string[]): Promise<number> {
    if (!Array.isArray(runIds)) {
      throw new InvalidOptionError('runIds', runIds, 'an array of run ids');
    }
    runIds.forEach((id, index) => {
      checkRunId(`runIds[${index}]`, id);
    });
    const runs = await Promise.all([...new Set(runIds)].map((id) => this.getRun(id)));
    const own = runs.filter((run) => run !== null).map((run) => run.id);
    return own.length === 0 ? 0 : this.#client.retryRuns(own);
  }

  /** Lists this tenant's runs; see `ZapJobs.listRuns`. */
  async listRuns(
    options: ListRunsOptions = {},
  ): Promise<{ runs: Run[]; nextCursor: string | null }> {
    return this.#client.listRuns(this.#scopeFilter(options));
  }

  /** Counts this tenant's runs by state. */
  async countRuns(options: CountRunsOptions = {}): Promise<Record<RunState, number>> {
    return this.#client.countRuns(this.#scopeFilter(options));
  }

  /** Lists history events of this tenant's runs, oldest first. */
  async listEvents(
    options: ListEventsOptions = {},
  ): Promise<{ events: RunEvent[]; nextCursor: string | null }> {
    return this.#client.listEvents(this.#scopeFilter(options));
  }

  /**
   * Enqueues a run owned by this tenant and waits for its outcome; see `ZapJobs.enqueueAndWait`.
   */
  enqueueAndWait<J extends AnyJob>(
    job: J,
    input: InputOf<J>,
    options?: EnqueueAndWaitOptions,
  ): Promise<OutputOf<J>>;
  enqueueAndWait<N extends JobName<Jobs>>(
    job: N,
    input: InputOf<JobNamed<Jobs, N>>,
    options?: EnqueueAndWaitOptions,
  ): Promise<OutputOf<JobNamed<Jobs, N>>>;
  async enqueueAndWait(
    job: AnyJob | string,
    input: unknown,
    options?: EnqueueAndWaitOptions,
  ): Promise<unknown> {
    const scoped = this.#scopeOptions(options, 'options');
    await this.#checkParents([scoped]);
    return (
      this.#client.enqueueAndWait as (
        j: unknown,
        i: unknown,
        o: EnqueueAndWaitOptions,
      ) => Promise<unknown>
    )(job, input, scoped);
  }

  /**
   * Waits for a run of this tenant to finish; see `ZapJobs.waitFor`. Rejects with
   * RunNotFoundError for an unknown id and for another tenant's run.
   */
  async waitFor<O = unknown>(runId: string, options?: WaitOptions): Promise<O> {
    checkRunId('runId', runId);
    checkWaitOptions(options);
    if ((await this.getRun(runId)) === null) throw new RunNotFoundError(runId);
    return this.#client.waitFor<O>(runId, options);
  }

  /**
   * Rejects parents (`dependsOn`) that are not runs of this tenant with RunNotFoundError. An
   * unknown id and another tenant's run get the same error, so a child can neither read another
   * tenant's output nor tell whether its run exists. The client's own checks reject malformed
   * entries.
   */
  async #checkParents(options: readonly (EnqueueOptions | undefined)[]): Promise<void> {
    const parentIds = new Set<string>();
    for (const entry of options) {
      const dependsOn: unknown = entry?.dependsOn;
      if (!Array.isArray(dependsOn)) continue;
      for (const dependency of dependsOn as unknown[]) {
        const runId = (dependency as { runId?: unknown } | null)?.runId;
        if (typeof runId === 'string' && runId !== '') parentIds.add(runId);
      }
    }
    const parents = await Promise.all([...parentIds].map((id) => this.getRun(id)));
    const index = parents.indexOf(null);
    if (index >= 0) throw new RunNotFoundError([...parentIds][index]!);
  }

  /** Runs `fn` with this tenant as the ambient tenant, so enqueues inside it default to it. */
  run<T>(fn: () => T): T {
    return runWithTenant(this.tenantId, fn);
  }

  #scopeOptions<T extends EnqueueOptions | EnqueueAndWaitOptions>(
    options: T | undefined,
    name: string,
  ): T {
    if (options !== undefined) assertPlainObject(name, options);
    const scoped = { ...options, tenantId: this.#ownTenant(options, name) } as T;
    if (this.#partitionByTenant && scoped.partitionKey === undefined) {
      scoped.partitionKey = this.tenantId;
    }
    return scoped;
  }

  #scopeFilter<T extends { tenantId?: string }>(options: T): T {
    assertPlainObject('options', options);
    return { ...options, tenantId: this.#ownTenant(options, 'options') };
  }

  #ownTenant(options: { tenantId?: unknown } | undefined, name: string): string {
    const requested = options?.tenantId;
    if (requested !== undefined && requested !== this.tenantId) {
      throw new InvalidOptionError(
        `${name}.tenantId`,
        requested,
        `"${this.tenantId}" or no tenantId, because this client is limited to that tenant`,
      );
    }
    return this.tenantId;
  }
}
