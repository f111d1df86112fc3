/**
 * `zap.batches`: a group of runs with callbacks that run when every member succeeded, when
 * the batch finished with a failure, and when it finished either way, plus progress counts.
 *
 * Members share a group whose id is the batch id. A finalizer run (internal job
 * `zapjobs.batch`, with the batch id as its run id) waits for every member with condition
 * `always`, then enqueues the callbacks that apply. A callback is decided once every member has
 * finished, so `onFailure` runs after the last member finished, not at the first failure.
 */
import { InvalidOptionError } from '../errors.js';
import { assertKnownKeys, assertPlainObject, checkName } from '../internal/check.js';
import { buildNewRun } from '../internal/enqueue.js';
import type { ClientInternals } from '../internal/internals.js';
import { serializePayload } from '../internal/serialize.js';
import { callStorage } from '../internal/storage-call.js';
import { uuidv7 } from '../internal/uuid.js';
import { type AnyJob, type InputOf, isJob } from '../job.js';
import type { EnqueueOptions } from '../run.js';
import type { NewRun, RunState } from '../storage/contract.js';
import {
  BATCH_JOB_NAME,
  type BatchCallbackKind,
  type BatchJobInput,
  batchCallbackKey,
  CALLBACK_KINDS,
  callbacksFor,
  summarize,
} from './batch-job.js';

/** Enqueue options of a batch member; the batch sets the group. */
export type BatchMemberOptions = Omit<EnqueueOptions, 'groupId' | 'transaction'>;

/** Enqueue options of a callback; the batch sets its group, timing of release and dedup. */
export type BatchCallbackOptions = Omit<
  EnqueueOptions,
  'groupId' | 'transaction' | 'dependsOn' | 'idempotencyKey' | 'unique'
>;

/** One run of a batch, or a callback: a job, its input and enqueue options. */
export interface BatchRunSpec<J extends AnyJob = AnyJob, O = BatchMemberOptions> {
  job: J | string;
  input: InputOf<J>;
  options?: O;
}

/** Options of `zap.batches.create`. */
export interface CreateBatchOptions {
  /** Members of the batch; may be empty, in which case the batch is complete at once. */
  runs: readonly BatchRunSpec[];
  /** Enqueued when every member completed. */
  onSuccess?: BatchRunSpec<AnyJob, BatchCallbackOptions>;
  /** Enqueued when every member finished and at least one failed or was cancelled. */
  onFailure?: BatchRunSpec<AnyJob, BatchCallbackOptions>;
  /** Enqueued when every member finished, whatever the outcome. */
  onFinish?: BatchRunSpec<AnyJob, BatchCallbackOptions>;
  /**
   * Queue of the batch's finalizer run, which enqueues the callbacks; a worker must serve it.
   * Default `default`.
   */
  queue?: string;
  /** A backend-specific transaction to create the batch in, as for enqueue. */
  transaction?: unknown;
}

/** Result of `zap.batches.create`. */
export interface BatchCreated {
  /** Id of the batch: the group id of its members and the run id of its finalizer. */
  batchId: string;
  /** Ids of the members, in request order. */
  runIds: string[];
  /** Ids the callback runs will have, or null for callbacks not given. */
  callbacks: Record<BatchCallbackKind, string | null>;
}

/** Progress and outcome of a batch. */
export interface BatchStatus {
  batchId: string;
  /**
   * `running` while a member has not finished; then `succeeded` when every member completed,
   * else `failed`. An empty batch is `succeeded` at once.
   */
  state: 'running' | 'succeeded' | 'failed';
  total: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Members not finished yet. */
  pending: number;
  byState: Record<RunState, number>;
  /** Callback runs with their state, or null when not given. State null until enqueued. */
  callbacks: Record<BatchCallbackKind, { runId: string; state: RunState | null } | null>;
}

const CREATE_KEYS = ['runs', 'onSuccess', 'onFailure', 'onFinish', 'queue', 'transaction'];

/** Batches of a client's storage; reach it as `zap.batches`. */
export class Batches {
  readonly #internals: ClientInternals;

  /** @internal Created by the client. */
  constructor(internals: ClientInternals) {
    this.#internals = internals;
  }

  /**
   * Creates a batch: its members, and its finalizer, in one atomic storage call. Every input
   * and option is checked first, the callbacks' too.
   */
  async create(options: CreateBatchOptions): Promise<BatchCreated> {
    await this.#internals.ensureReady('create a batch');
    assertPlainObject('options', options);
    assertKnownKeys(options, CREATE_KEYS, '', ' of batches.create');
    if (!Array.isArray(options.runs)) {
      throw new InvalidOptionError('runs', options.runs, 'an array of { job, input, options? }');
    }
    const batchId = uuidv7();
    const members = options.runs.map((spec: unknown, index) =>
      this.#buildMember(spec, `runs[${index}]`, batchId),
    );

    const callbacks: Partial<Record<BatchCallbackKind, NewRun>> = {};
    const callbackIds: Record<BatchCallbackKind, string | null> = {
      onSuccess: null,
      onFailure: null,
      onFinish: null,
    };
    for (const kind of CALLBACK_KINDS) {
      const spec = options[kind];
      if (spec === undefined) continue;
      const run = this.#buildCallback(spec, kind, batchId);
      callbacks[kind] = run;
      callbackIds[kind] = run.id;
    }

    const finalizerInput: BatchJobInput = { batchId, callbacks };
    const finalizer: NewRun = {
      id: batchId,
      job: BATCH_JOB_NAME,
      queue: options.queue === undefined ? 'default' : checkName('queue', options.queue),
      input: serializePayload(finalizerInput, {
        what: 'Callbacks of a batch',
        root: 'callbacks',
        maxBytes: this.#internals.maxPayloadBytes,
      }),
      priority: 0,
      maxAttempts: 10,
      historyLevel: 'lifecycle',
      dependsOn: members.map((member) => ({ runId: member.id, condition: 'always' })),
    };

    // An empty batch has nothing to wait for: its callbacks go in with it, and the finalizer
    // finds them already inserted.
    const immediate =
      members.length === 0
        ? callbacksFor(0)
            .map((kind) => callbacks[kind])
            .filter((run) => run !== undefined)
        : [];
    const runs = [...members, finalizer, ...immediate];
    const storage = this.#internals.storage;
    const insertOptions =
      options.transaction === undefined ? undefined : { transaction: options.transaction };
    // Batch members get producer spans and stored trace context, as any other enqueue does.
    const results = await this.#internals.telemetry.traceEnqueue(runs, () =>
      callStorage(storage, 'insertRuns', () => storage.insertRuns(runs, insertOptions)),
    );
    results.forEach((result, index) => {
      const run = runs[index]!;
      this.#internals.bus.emit('job.enqueued', {
        runId: result.runId,
        job: run.job,
        queue: run.queue,
        created: result.created,
        tenantId: run.tenantId ?? null,
      });
    });
    return {
      batchId,
      runIds: results.slice(0, members.length).map((result) => result.runId),
      callbacks: callbackIds,
    };
  }

  /** Returns the progress of a batch, or null when no batch has that id. */
  async get(batchId: string): Promise<BatchStatus | null> {
    await this.#internals.ensureReady('get a batch');
    const id = checkName('batchId', batchId);
    const storage = this.#internals.storage;
    const finalizer = await callStorage(storage, 'getRun', () => storage.getRun(id));
    if (finalizer === null || finalizer.job !== BATCH_JOB_NAME) return null;

    const counts = await callStorage(storage, 'countGroup', () => storage.countGroup(id));
    const summary = summarize(counts.byState, counts.total);
    const finished = summary.completed + summary.failed + summary.cancelled;
    const unsuccessful = summary.failed + summary.cancelled;
    let state: BatchStatus['state'] = 'running';
    if (finished === summary.total) state = unsuccessful === 0 ? 'succeeded' : 'failed';

    const input = JSON.parse(finalizer.input) as BatchJobInput;
    const callbacks = {} as BatchStatus['callbacks'];
    for (const kind of CALLBACK_KINDS) {
      const run = input.callbacks[kind];
      if (run === undefined) {
        callbacks[kind] = null;
        continue;
      }
      const stored = await callStorage(storage, 'getRun', () => storage.getRun(run.id));
      callbacks[kind] = { runId: run.id, state: stored?.state ?? null };
    }
    return {
      batchId: id,
      state,
      ...summary,
      pending: summary.total - finished,
      byState: counts.byState,
      callbacks,
    };
  }

  #buildMember(spec: unknown, name: string, batchId: string): NewRun {
    const { job, input, options } = this.#readSpec(spec, name);
    if (options !== undefined && ('groupId' in options || 'transaction' in options)) {
      const key = 'groupId' in options ? 'groupId' : 'transaction';
      throw new InvalidOptionError(
        `${name}.options.${key}`,
        (options as Record<string, unknown>)[key],
        key === 'groupId'
          ? 'no groupId: the batch id is the group of its members'
          : 'no per-run transaction; pass it as batches.create({ transaction })',
      );
    }
    const built = buildNewRun(job, input, options, this.#internals.maxPayloadBytes);
    built.run.groupId = batchId;
    return built.run;
  }

  #buildCallback(spec: unknown, kind: BatchCallbackKind, batchId: string): NewRun {
    const { job, input, options } = this.#readSpec(spec, kind);
    for (const key of ['groupId', 'transaction', 'dependsOn', 'idempotencyKey', 'unique']) {
      if (options !== undefined && key in options) {
        throw new InvalidOptionError(
          `${kind}.options.${key}`,
          (options as Record<string, unknown>)[key],
          `no ${key} on a batch callback, which the batch releases and deduplicates itself`,
        );
      }
    }
    const built = buildNewRun(job, input, options, this.#internals.maxPayloadBytes);
    built.run.unique = {
      key: batchCallbackKey(batchId, kind),
      releaseOn: 'never',
      onConflict: 'ignore',
    };
    return built.run;
  }

  #readSpec(spec: unknown, name: string) {
    assertPlainObject(name, spec);
    assertKnownKeys(spec, ['job', 'input', 'options'], `${name}.`, '');
    const entry = spec as { job: unknown; input: unknown; options?: EnqueueOptions };
    let job: AnyJob;
    if (typeof entry.job === 'string') job = this.#internals.registry.require(entry.job);
    else if (isJob(entry.job)) job = entry.job;
    else {
      throw new InvalidOptionError(
        `${name}.job`,
        entry.job,
        'a job definition or the name of a registered job',
      );
    }
    return { job, input: entry.input, options: entry.options };
  }
}
