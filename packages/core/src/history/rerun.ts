/**
 * Re-running a finished run as a new run with the same job, input and options, and the links
 * between the two: the new run's metadata names the original, and the original stores one
 * state key per re-run (state works at every history level, unlike events).
 */
import { InvalidOptionError, RunNotFoundError } from '../errors.js';
import { checkRunId } from '../internal/check.js';
import { decodeRun } from '../internal/decode.js';
import { splitStoredMetadata } from '../internal/run-options.js';
import { parsePayload } from '../internal/serialize.js';
import { callStorage } from '../internal/storage-call.js';
import type { EnqueueOptions, EnqueueResult } from '../run.js';
import { type RunRecord, type Storage, TERMINAL_STATES } from '../storage/contract.js';

/** Metadata key of a re-run that contains the id of the run it repeats. */
export const RERUN_OF_KEY = 'zapjobs.rerunOf';
/** Prefix of the state keys of a run that name its re-runs: `rerun:<new run id>`. */
const RERUN_STATE_PREFIX = 'rerun:';
/** Type of the event appended to the original run when it is re-run. */
export const RERUN_EVENT_TYPE = 'rerun';

/** Links between a run and its re-runs. */
export interface RunLinks {
  /** The run this one re-runs, or null. */
  rerunOf: string | null;
  /** Runs created by re-running this one, oldest first. */
  reruns: string[];
}

export interface RerunDependencies {
  storage: Storage;
  /** Enqueues by job name, as `zap.enqueue` does, with its checks, events and spans. */
  enqueue(job: string, input: unknown, options: EnqueueOptions): Promise<EnqueueResult>;
}

/**
 * Enqueues a new run of a finished run's job with the same input, queue, priority, attempts,
 * group, partition key, tenant, history level, timeout and backoff. The input is checked
 * against the job's current input schema. Idempotency and unique keys are not copied, since
 * they would match the original run. The two writes that link the runs follow the enqueue; if
 * they fail, the new run exists and the error reports it.
 */
export async function rerun(deps: RerunDependencies, runId: string): Promise<EnqueueResult> {
  const record = await readRun(deps.storage, runId);
  if (!TERMINAL_STATES.includes(record.state)) {
    throw new InvalidOptionError(
      'runId',
      runId,
      `a finished run, but run "${runId}" is ${record.state}; wait for it with ` +
        'zap.waitFor(runId) or cancel it first',
    );
  }

  const run = decodeRun(record);
  const { settings } = splitStoredMetadata(parsePayload(record.metadata));
  const options: EnqueueOptions = {
    queue: record.queue,
    priority: record.priority,
    attempts: record.maxAttempts,
    historyLevel: record.historyLevel,
    metadata: { ...(run.metadata ?? {}), [RERUN_OF_KEY]: runId },
  };
  if (record.groupId !== null) options.groupId = record.groupId;
  if (record.partitionKey !== null) options.partitionKey = record.partitionKey;
  if (record.tenantId !== null) options.tenantId = record.tenantId;
  if (settings.timeoutMs !== undefined) options.timeoutMs = settings.timeoutMs;
  if (settings.removeOnComplete !== undefined) {
    options.removeOnComplete = settings.removeOnComplete;
  }
  if (settings.backoff !== undefined && settings.backoff.type !== 'custom') {
    options.backoff = settings.backoff;
  }

  const result = await deps.enqueue(record.job, run.input, options);
  const link = JSON.stringify({ runId: result.runId });
  try {
    await callStorage(deps.storage, 'putState', () =>
      deps.storage.putState(runId, `${RERUN_STATE_PREFIX}${result.runId}`, link),
    );
    await callStorage(deps.storage, 'appendEvents', () =>
      deps.storage.appendEvents([{ runId, type: RERUN_EVENT_TYPE, data: link }]),
    );
  } catch (error) {
    throw new Error(
      `Run "${result.runId}" re-runs run "${runId}" and was enqueued, but storing the link on ` +
        `the original failed; its metadata still names the original: ${String(error)}`,
      { cause: error },
    );
  }
  return result;
}

/** Returns the re-run links of a run. */
export async function linksOf(storage: Storage, runId: string): Promise<RunLinks> {
  const record = await readRun(storage, runId);
  const { metadata } = splitStoredMetadata(parsePayload(record.metadata));
  const rerunOf = metadata?.[RERUN_OF_KEY];
  const state = await callStorage(storage, 'listState', () => storage.listState(runId));
  const reruns = Object.keys(state)
    .filter((key) => key.startsWith(RERUN_STATE_PREFIX))
    .map((key) => key.slice(RERUN_STATE_PREFIX.length))
    // Run ids are UUIDv7, so string order is creation order.
    .sort();
  return { rerunOf: typeof rerunOf === 'string' ? rerunOf : null, reruns };
}

async function readRun(storage: Storage, runId: string): Promise<RunRecord> {
  checkRunId('runId', runId);
  const record = await callStorage(storage, 'getRun', () => storage.getRun(runId));
  if (record === null) throw new RunNotFoundError(runId);
  return record;
}
