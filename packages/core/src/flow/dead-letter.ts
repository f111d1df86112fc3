/**
 * `zap.deadLetter`: runs that used every attempt, or failed with NonRetryableError, wait in
 * state `failed` with their last error until they are redriven or purged.
 */
import { InvalidOptionError } from '../errors.js';
import { assertKnownKeys, assertPlainObject, checkInteger, checkRunId } from '../internal/check.js';
import { decodeRun } from '../internal/decode.js';
import type { ClientInternals } from '../internal/internals.js';
import { buildRunFilter, buildRunPage } from '../internal/queries.js';
import { callStorage } from '../internal/storage-call.js';
import type { Run } from '../run.js';
import type { PageRequest, RunFilter } from '../storage/contract.js';

/** Filter of dead-letter runs. */
export interface DeadLetterFilter {
  queue?: string;
  job?: string;
  groupId?: string;
  tenantId?: string;
  partitionKey?: string;
}

/** Filter and page of `deadLetter.list`, newest first unless `order` is `asc`. */
export interface DeadLetterListOptions extends DeadLetterFilter {
  /** Page size from 1 to 1000. Default 100. */
  limit?: number;
  cursor?: string;
  order?: 'asc' | 'desc';
}

/** Runs to redrive: matching a filter, at most `max` of them (default every match). */
export interface RedriveFilter extends DeadLetterFilter {
  /** Maximum number of runs to redrive, at least 1. Default: every matching run. */
  max?: number;
}

const FILTER_KEYS = ['queue', 'job', 'groupId', 'tenantId', 'partitionKey'];
/** Runs read and redriven per storage call when redriving by filter. */
const REDRIVE_PAGE = 500;

/** The dead letter of a client's storage; reach it as `zap.deadLetter`. */
export class DeadLetter {
  readonly #internals: ClientInternals;

  /** @internal Created by the client. */
  constructor(internals: ClientInternals) {
    this.#internals = internals;
  }

  /** Lists dead-letter runs with their last error, one page at a time. */
  async list(
    options: DeadLetterListOptions = {},
  ): Promise<{ runs: Run[]; nextCursor: string | null }> {
    await this.#internals.ensureReady('list dead-letter runs');
    assertPlainObject('options', options);
    assertKnownKeys(options, [...FILTER_KEYS, 'limit', 'cursor', 'order'], '', ' of list');
    const filter = buildRunFilter({ ...options, states: ['failed'] }, true);
    const page = buildRunPage(options);
    const storage = this.#internals.storage;
    const result = await callStorage(storage, 'listRuns', () => storage.listRuns(filter, page));
    return { runs: result.items.map((record) => decodeRun(record)), nextCursor: result.nextCursor };
  }

  /** Counts dead-letter runs matching a filter. */
  async count(filter: DeadLetterFilter = {}): Promise<number> {
    await this.#internals.ensureReady('count dead-letter runs');
    const runFilter = this.#filter(filter, FILTER_KEYS);
    const storage = this.#internals.storage;
    const counts = await callStorage(storage, 'countRuns', () => storage.countRuns(runFilter));
    return counts.failed;
  }

  /**
   * Moves runs back to `available` with a fresh attempt count, keeping their priority, input
   * and options. Pass one run id, an array of ids, or a filter. Ids may name failed or
   * cancelled runs; a filter selects failed runs only. Returns how many runs moved.
   */
  async redrive(target: string | readonly string[] | RedriveFilter): Promise<number> {
    await this.#internals.ensureReady('redrive dead-letter runs');
    const storage = this.#internals.storage;
    if (typeof target === 'string' || Array.isArray(target)) {
      const ids: readonly unknown[] = typeof target === 'string' ? [target] : target;
      ids.forEach((id, index) => {
        checkRunId(typeof target === 'string' ? 'runId' : `runIds[${index}]`, id);
      });
      if (ids.length === 0) return 0;
      return callStorage(storage, 'retryRuns', () => storage.retryRuns(ids as string[]));
    }

    const filter = this.#filter(target, [...FILTER_KEYS, 'max']);
    const options = target as RedriveFilter;
    const max =
      options.max === undefined
        ? Number.POSITIVE_INFINITY
        : checkInteger('max', options.max, 1, Number.MAX_SAFE_INTEGER);
    let moved = 0;
    let cursor: string | undefined;
    while (moved < max) {
      const limit = Math.min(REDRIVE_PAGE, max - moved);
      const request: PageRequest = { limit, order: 'asc' };
      if (cursor !== undefined) request.cursor = cursor;
      const page = await callStorage(storage, 'listRuns', () => storage.listRuns(filter, request));
      if (page.items.length === 0) break;
      const ids = page.items.map((run) => run.id);
      moved += await callStorage(storage, 'retryRuns', () => storage.retryRuns(ids));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    return moved;
  }

  #filter(value: unknown, keys: readonly string[]): RunFilter {
    if (typeof value !== 'object' || value === null) {
      throw new InvalidOptionError('target', value, 'a run id, an array of run ids or a filter');
    }
    assertKnownKeys(value, keys, '', ' of a dead-letter filter');
    const { max: _max, ...rest } = value as RedriveFilter;
    const filter = buildRunFilter(rest, false);
    filter.states = ['failed'];
    return filter;
  }
}
