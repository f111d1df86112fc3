/**
 * The ZapJobs client: enqueue runs, inspect and manage them, subscribe to events and create
 * workers.
 */
import { ClientClosedError, InvalidOptionError, RunNotFoundError } from './errors.js';
import { EventBus, type EventListener, type ZapJobsEventName } from './events.js';
import { createFlowApis, type FlowApis } from './flow/apis.js';
import type { Batches } from './flow/batches.js';
import type { DeadLetter } from './flow/dead-letter.js';
import type { Limits } from './flow/limits.js';
import { History } from './history/history.js';
import { assertKnownKeys, assertPlainObject, checkInteger, checkRunId } from './internal/check.js';
import { decodeEvent, decodeRun } from './internal/decode.js';
import { buildNewRun } from './internal/enqueue.js';
import type { ClientInternals } from './internal/internals.js';
import { buildEventQuery, buildRunFilter, buildRunPage } from './internal/queries.js';
import { JobRegistry } from './internal/registry.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './internal/serialize.js';
import { callStorage } from './internal/storage-call.js';
import type { AnyJob, InputOf, OutputOf } from './job.js';
import { type ConsoleLike, childLogger, type Logger, toLogger } from './logger.js';
import type { Plugin, PluginApi, PluginHooks } from './plugin.js';
import { RelayHub } from './relay/hub.js';
import {
  checkWaitOptions,
  type EnqueueAndWaitOptions,
  splitEnqueueAndWaitOptions,
  type WaitOptions,
} from './relay/options.js';
import type {
  CountRunsOptions,
  EnqueueOptions,
  EnqueueResult,
  ListEventsOptions,
  ListRunsOptions,
  Run,
  RunEvent,
} from './run.js';
import type { Schedules } from './schedules/api.js';
import type { Scheduler } from './schedules/scheduler.js';
import type { SchedulerOptions } from './schedules/types.js';
import type { CancelResult, NewRun, RunState, Storage } from './storage/contract.js';
import { checkTelemetryOptions, Telemetry, type TelemetryOptions } from './telemetry/telemetry.js';
import { TenantAdmin } from './tenancy/admin.js';
import { FairnessAdmin } from './tenancy/fairness.js';
import { TenantClient, type TenantClientOptions } from './tenancy/tenant-client.js';
import { Worker, type WorkerOptions } from './worker.js';

/** Options of {@link ZapJobs}. */
export interface ZapJobsOptions<Jobs extends AnyJob = AnyJob> {
  /** The storage backend, such as `new SqliteStorage({ path })`. The client closes it. */
  storage: Storage;
  /** Job definitions this client enqueues by name and its workers run. */
  jobs?: readonly Jobs[];
  /** Plugins, set up in order by `init`. */
  plugins?: readonly Plugin[];
  /** A pino-shaped logger or `console`. Default: `consoleLogger('info')`. */
  logger?: Logger | ConsoleLike;
  /**
   * Largest serialized payload (input, output, progress, checkpoint, metadata) in bytes of
   * UTF-8 JSON. Default 1,048,576 (1 MiB).
   */
  maxPayloadBytes?: number;
  /**
   * OpenTelemetry providers for the producer and consumer spans and the metrics. Default: the
   * global providers of `@opentelemetry/api`, which record nothing until an SDK registers.
   */
  telemetry?: TelemetryOptions;
}

/** True when `T` is `any`, the job list of an untyped client. */
type IsAny<T> = 0 extends 1 & T ? true : false;

/**
 * Union of the job names a typed client was built with, or `string` for an untyped client.
 * `string` rather than `any` keeps a job object from matching the by-name overload of
 * `enqueue`, so its input stays typed.
 */
export type JobName<Jobs extends AnyJob> = IsAny<Jobs> extends true ? string : Jobs['name'];

/** The job of a typed client with name `N`; any job for an untyped client. */
export type JobNamed<Jobs extends AnyJob, N extends string> = string extends Jobs['name']
  ? AnyJob
  : Extract<Jobs, { name: N }>;

/** Enqueue options accepted per item of `enqueueMany`; the transaction is per call. */
export type EnqueueManyOptions = Omit<EnqueueOptions, 'transaction'>;

/** One run to enqueue with `enqueueMany`, by job definition or by name. */
export type EnqueueManyItem<Jobs extends AnyJob = AnyJob> =
  IsAny<Jobs> extends true
    ? EnqueueManyItem<AnyJob>
    : Jobs extends AnyJob
      ? { job: Jobs | Jobs['name']; input: InputOf<Jobs>; options?: EnqueueManyOptions }
      : never;

const CLIENT_KEYS = ['storage', 'jobs', 'plugins', 'logger', 'maxPayloadBytes', 'telemetry'];

/**
 * A ZapJobs client. `Jobs` is the union of the job definitions passed in `jobs`, which types
 * `enqueue` by name; it is inferred from the constructor call. The default `any` makes a plain
 * `ZapJobs` accept every typed client, for functions that take any client.
 */
export class ZapJobs<Jobs extends AnyJob = any> {
  /** The storage backend. */
  readonly storage: Storage;
  /** The logger every component of this client writes to. */
  readonly logger: Logger;
  /** Largest serialized payload in bytes. */
  readonly maxPayloadBytes: number;
  /** Recurring schedules: upsert, pause, resume, delete and preview fire times. */
  readonly schedules: Schedules;
  /** Batches of runs with success, failure and finish callbacks. */
  readonly batches: Batches;
  /** Concurrency and rate limits per queue, job or partition key, enforced cluster-wide. */
  readonly limits: Limits;
  /** Runs that failed for good: list and redrive them. */
  readonly deadLetter: DeadLetter;
  /** The tenant registry: weights, quotas, suspend, resume and delete. */
  readonly tenants: TenantAdmin;
  /** Fair queues, shared by tenant or partition key in proportion to weights. */
  readonly fairness: FairnessAdmin;
  /** Event history: timelines, queries, export, retention, replay and re-runs. */
  readonly history: History;

  readonly #registry = new JobRegistry();
  readonly #bus: EventBus;
  readonly #plugins: readonly Plugin[];
  readonly #hooks: PluginHooks = { wrappers: [], extenders: [] };
  readonly #workers = new Set<Worker>();
  readonly #internals: ClientInternals;
  readonly #flow: FlowApis;
  readonly #telemetry: Telemetry;
  readonly #relay: RelayHub;
  #pluginsSetUp = 0;
  #ready: Promise<void> | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: ZapJobsOptions<Jobs>) {
    assertPlainObject('options', options);
    assertKnownKeys(options, CLIENT_KEYS, '', ' of new ZapJobs()');
    this.storage = checkStorage(options.storage);
    this.logger = toLogger(options.logger);
    this.maxPayloadBytes =
      options.maxPayloadBytes === undefined
        ? DEFAULT_MAX_PAYLOAD_BYTES
        : checkInteger('maxPayloadBytes', options.maxPayloadBytes, 1, 2 ** 31 - 1);
    this.#bus = new EventBus(this.logger);

    const jobs = options.jobs ?? [];
    if (!Array.isArray(jobs)) throw new InvalidOptionError('jobs', jobs, 'an array of jobs');
    jobs.forEach((job, index) => {
      this.#registry.register(job, `jobs[${index}]`);
    });

    const plugins = options.plugins ?? [];
    if (!Array.isArray(plugins)) {
      throw new InvalidOptionError('plugins', plugins, 'an array of plugins');
    }
    plugins.forEach((plugin: unknown, index) => {
      checkPlugin(plugin, index);
    });
    this.#plugins = [...plugins];

    this.#telemetry = new Telemetry(checkTelemetryOptions(options.telemetry), this.#bus);
    this.#internals = {
      client: this,
      storage: this.storage,
      logger: this.logger,
      bus: this.#bus,
      registry: this.#registry,
      hooks: this.#hooks,
      maxPayloadBytes: this.maxPayloadBytes,
      telemetry: this.#telemetry,
      ensureReady: (operation) => this.#ensureReady(operation),
    };
    this.#flow = createFlowApis(this.#internals, this.#registry);
    this.schedules = this.#flow.schedules;
    this.batches = this.#flow.batches;
    this.limits = this.#flow.limits;
    this.deadLetter = this.#flow.deadLetter;
    this.tenants = new TenantAdmin(this.#internals);
    this.fairness = new FairnessAdmin(this.#internals);
    this.#relay = new RelayHub({
      storage: this.storage,
      bus: this.#bus,
      logger: this.logger,
      cancel: (runId) => this.cancel(runId),
    });
    this.history = new History({
      storage: this.storage,
      ensureReady: (operation) => this.#ensureReady(operation),
      enqueue: (job, input, enqueueOptions) => this.enqueue(job, input as never, enqueueOptions),
    });
  }

  /**
   * Migrates the storage and sets up plugins. Idempotent; every other method calls it first,
   * so calling it explicitly only moves the work (and its errors) to a point you choose.
   */
  init(): Promise<void> {
    return this.#ensureReady('init');
  }

  #ensureReady(operation: string): Promise<void> {
    if (this.#closing !== null) return Promise.reject(new ClientClosedError(operation));
    if (this.#ready === null) {
      this.#ready = this.#initialize().catch((error: unknown) => {
        this.#ready = null;
        throw error;
      });
    }
    return this.#ready;
  }

  async #initialize(): Promise<void> {
    await callStorage(this.storage, 'migrate', () => this.storage.migrate());
    while (this.#pluginsSetUp < this.#plugins.length) {
      const plugin = this.#plugins[this.#pluginsSetUp]!;
      await plugin.setup(this.#pluginApi(plugin));
      this.#pluginsSetUp++;
      this.logger.debug({ plugin: plugin.name }, `Plugin "${plugin.name}" set up`);
    }
  }

  #pluginApi(plugin: Plugin): PluginApi {
    return {
      client: this,
      storage: this.storage,
      logger: childLogger(this.logger, { plugin: plugin.name }),
      registerJob: (job) =>
        this.#registry.register(job, `job registered by plugin "${plugin.name}"`),
      on: (type, listener) => this.#bus.on(type, listener),
      emit: (type, event) => this.#bus.emit(type, event),
      wrapExecution: (wrapper) => {
        if (typeof wrapper !== 'function') {
          throw new InvalidOptionError(
            `wrapExecution() of plugin "${plugin.name}"`,
            wrapper,
            'a function',
          );
        }
        this.#hooks.wrappers.push(wrapper);
      },
      extendContext: (extender) => {
        if (typeof extender !== 'function') {
          throw new InvalidOptionError(
            `extendContext() of plugin "${plugin.name}"`,
            extender,
            'a function',
          );
        }
        this.#hooks.extenders.push(extender);
      },
    };
  }

  /**
   * Enqueues a run of a job, by definition or by registered name. Input and options are
   * checked before anything is stored; see the README for the serialization rule. A
   * definition that is not registered gets the checks of a registered one, and a definition
   * other than the one registered under its name is rejected with DuplicateJobError.
   */
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
    await this.#ensureReady('enqueue');
    const definition = this.#registry.resolve(job, 'job', 'enqueue');
    const built = buildNewRun(definition, input, options, this.maxPayloadBytes);
    const insertOptions =
      built.options.transaction === undefined
        ? undefined
        : { transaction: built.options.transaction };
    const [result] = await this.#telemetry.traceEnqueue([built.run], () =>
      callStorage(this.storage, 'insertRuns', () =>
        this.storage.insertRuns([built.run], insertOptions),
      ),
    );
    if (result === undefined) throw missingResult('insertRuns', 1, 0);
    this.#emitEnqueued(built.run, result.runId, result.created);
    return {
      runId: result.runId,
      created: result.created,
      replaced: result.replaced,
      state: result.state,
    };
  }

  /**
   * Enqueues many runs in one atomic storage call: either all are stored or none. Every item
   * is checked before the call. `options.transaction` applies to the whole call.
   */
  async enqueueMany(
    items: readonly EnqueueManyItem<Jobs>[],
    options?: { transaction?: unknown },
  ): Promise<EnqueueResult[]> {
    await this.#ensureReady('enqueueMany');
    if (!Array.isArray(items)) throw new InvalidOptionError('items', items, 'an array');
    if (options !== undefined) {
      assertPlainObject('options', options);
      assertKnownKeys(options, ['transaction'], '', ' of enqueueMany');
    }
    if (items.length === 0) return [];

    const runs: NewRun[] = items.map((item: unknown, index) => {
      assertPlainObject(`items[${index}]`, item);
      assertKnownKeys(item, ['job', 'input', 'options'], `items[${index}].`, '');
      const entry = item as { job: AnyJob | string; input: unknown; options?: EnqueueOptions };
      if (entry.options !== undefined && 'transaction' in entry.options) {
        throw new InvalidOptionError(
          `items[${index}].options.transaction`,
          entry.options.transaction,
          'no per-item transaction; pass it as enqueueMany(items, { transaction })',
        );
      }
      const definition = this.#registry.resolve(entry.job, `items[${index}].job`, 'enqueueMany');
      return buildNewRun(definition, entry.input, entry.options, this.maxPayloadBytes).run;
    });

    const insertOptions =
      options?.transaction === undefined ? undefined : { transaction: options.transaction };
    const results = await this.#telemetry.traceEnqueue(runs, () =>
      callStorage(this.storage, 'insertRuns', () => this.storage.insertRuns(runs, insertOptions)),
    );
    if (results.length !== runs.length)
      throw missingResult('insertRuns', runs.length, results.length);
    return results.map((result, index) => {
      this.#emitEnqueued(runs[index]!, result.runId, result.created);
      return {
        runId: result.runId,
        created: result.created,
        replaced: result.replaced,
        state: result.state,
      };
    });
  }

  #emitEnqueued(run: NewRun, runId: string, created: boolean): void {
    this.#bus.emit('job.enqueued', {
      runId,
      job: run.job,
      queue: run.queue,
      created,
      tenantId: run.tenantId ?? null,
    });
  }

  /**
   * Cancels a run that has not finished. A running attempt's signal is aborted with
   * CancelledError and its outcome is discarded. Throws RunNotFoundError for an unknown id.
   */
  async cancel(runId: string): Promise<CancelResult> {
    await this.#ensureReady('cancel');
    checkRunId('runId', runId);
    const result = await callStorage(this.storage, 'cancel', () => this.storage.cancel(runId));
    if (result === null) throw new RunNotFoundError(runId);
    if (result.cancelled) {
      for (const worker of this.#workers) worker.notifyCancelled(runId);
      if (this.#bus.has('job.cancelled')) {
        // The cancel result has no tenant; read it only when someone listens.
        const run = await this.storage.getRun(runId).catch(() => null);
        this.#bus.emit('job.cancelled', { runId, tenantId: run?.tenantId ?? null });
      }
    }
    return result;
  }

  /** Returns a run, decoded, or null when the id is unknown. */
  async getRun<I = unknown, O = unknown>(runId: string): Promise<Run<I, O> | null> {
    await this.#ensureReady('getRun');
    checkRunId('runId', runId);
    const record = await callStorage(this.storage, 'getRun', () => this.storage.getRun(runId));
    return record === null ? null : decodeRun<I, O>(record);
  }

  /** Lists runs matching a filter, newest first unless `order` is `asc`, one page at a time. */
  async listRuns(
    options: ListRunsOptions = {},
  ): Promise<{ runs: Run[]; nextCursor: string | null }> {
    await this.#ensureReady('listRuns');
    const filter = buildRunFilter(options, true);
    const page = buildRunPage(options);
    const result = await callStorage(this.storage, 'listRuns', () =>
      this.storage.listRuns(filter, page),
    );
    return { runs: result.items.map((record) => decodeRun(record)), nextCursor: result.nextCursor };
  }

  /** Counts runs by state. */
  async countRuns(options: CountRunsOptions = {}): Promise<Record<RunState, number>> {
    await this.#ensureReady('countRuns');
    const filter = buildRunFilter(options, false);
    return callStorage(this.storage, 'countRuns', () => this.storage.countRuns(filter));
  }

  /** Moves failed or cancelled runs back to `available` with a fresh attempt count. */
  async retryRuns(runIds: readonly string[]): Promise<number> {
    await this.#ensureReady('retryRuns');
    if (!Array.isArray(runIds))
      throw new InvalidOptionError('runIds', runIds, 'an array of run ids');
    runIds.forEach((id, index) => {
      checkRunId(`runIds[${index}]`, id);
    });
    if (runIds.length === 0) return 0;
    return callStorage(this.storage, 'retryRuns', () => this.storage.retryRuns(runIds));
  }

  /** Lists history events, oldest first, one page at a time. */
  async listEvents(
    options: ListEventsOptions = {},
  ): Promise<{ events: RunEvent[]; nextCursor: string | null }> {
    await this.#ensureReady('listEvents');
    const query = buildEventQuery(options);
    const page = await callStorage(this.storage, 'listEvents', () =>
      this.storage.listEvents(query),
    );
    return { events: page.items.map(decodeEvent), nextCursor: page.nextCursor };
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends ZapJobsEventName>(type: K, listener: EventListener<K>): () => void {
    return this.#bus.on(type, listener);
  }

  /**
   * Enqueues a run and waits for its outcome, as `enqueue` then `waitFor`. Resolves with the
   * typed output. Here `timeoutMs` limits the wait; the handler timeout is `jobTimeoutMs`.
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
    const { wait, enqueue } = splitEnqueueAndWaitOptions(options);
    const definition = typeof job === 'string' ? this.#registry.get(job) : job;
    const remove = enqueue?.removeOnComplete ?? definition?.defaults?.removeOnComplete;
    if (remove === true) {
      throw new InvalidOptionError(
        'removeOnComplete',
        remove,
        'false for enqueueAndWait, since a run removed when it completes leaves no output to ' +
          'wait for; pass removeOnComplete: false, or enqueue without waiting',
      );
    }
    const { runId } = await this.enqueue(job as AnyJob, input as never, enqueue);
    return this.#relay.wait(runId, wait);
  }

  /**
   * Waits for a run to finish, from any process that shares the storage. Resolves with its
   * output when it completes. Rejects with the error of its last attempt when it fails: a
   * ZapJobs error as its own class, any other error as RunFailedError with the original name,
   * message and code. Rejects with CancelledError when it is cancelled, RunNotFoundError when
   * it does not exist, and WaitTimeoutError after `timeoutMs`.
   */
  async waitFor<O = unknown>(runId: string, options?: WaitOptions): Promise<O> {
    await this.#ensureReady('waitFor');
    checkRunId('runId', runId);
    return (await this.#relay.wait(runId, checkWaitOptions(options))) as O;
  }

  /** Number of `waitFor` and `enqueueAndWait` calls of this client still waiting. */
  get pendingWaits(): number {
    return this.#relay.waiting;
  }

  /**
   * Returns a client limited to one tenant: its enqueues store the tenant id, and its reads,
   * cancels and retries see only that tenant's runs.
   */
  forTenant(tenantId: string, options?: TenantClientOptions): TenantClient<Jobs> {
    return new TenantClient(this, tenantId, options);
  }

  /** Creates a worker that runs this client's jobs. Call `start()` on it. */
  createWorker(options: WorkerOptions = {}): Worker {
    if (this.#closing !== null) throw new ClientClosedError('createWorker');
    const worker = new Worker(this.#internals, options);
    this.#workers.add(worker);
    return worker;
  }

  /**
   * Creates a scheduler that fires this storage's due schedules. Call `start()` on it. Run
   * one in every process that should fire schedules, typically each worker process: several
   * schedulers never fire an occurrence twice. `close` stops it.
   */
  createScheduler(options: SchedulerOptions = {}): Scheduler {
    if (this.#closing !== null) throw new ClientClosedError('createScheduler');
    return this.#flow.createScheduler(options);
  }

  /**
   * Stops every worker gracefully, closes plugins, removes listeners and closes the storage.
   * Safe to call more than once.
   */
  close(): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#flow.close();
    await Promise.all([...this.#workers].map((worker) => worker.stop()));
    this.#workers.clear();
    for (const plugin of this.#plugins.slice(0, this.#pluginsSetUp).reverse()) {
      try {
        await plugin.close?.();
      } catch (error) {
        this.logger.error(
          { err: error, plugin: plugin.name },
          `Plugin "${plugin.name}" failed to close`,
        );
      }
    }
    await this.#relay.close();
    this.#bus.clear();
    await this.#ready?.catch(() => undefined);
    await callStorage(this.storage, 'close', () => this.storage.close());
  }
}

function checkStorage(storage: unknown): Storage {
  const required = ['migrate', 'insertRuns', 'claim', 'complete', 'fail', 'close'];
  const candidate = storage as Record<string, unknown> | null | undefined;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    required.some((method) => typeof candidate[method] !== 'function')
  ) {
    throw new InvalidOptionError(
      'storage',
      storage,
      'a storage backend such as new SqliteStorage()',
    );
  }
  return storage as Storage;
}

function checkPlugin(plugin: unknown, index: number): void {
  const candidate = plugin as Partial<Plugin> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.setup !== 'function'
  ) {
    throw new InvalidOptionError(`plugins[${index}]`, plugin, 'an object with name and setup(api)');
  }
  if (typeof candidate.name !== 'string' || candidate.name === '') {
    throw new InvalidOptionError(`plugins[${index}].name`, candidate.name, 'a non-empty string');
  }
}

function missingResult(operation: string, expected: number, actual: number): Error {
  return new Error(
    `Storage returned ${actual} result(s) from ${operation} for ${expected} request(s); ` +
      'the backend breaks the storage contract.',
  );
}
