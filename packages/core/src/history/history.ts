/**
 * `zap.history`: timelines of runs and groups, queries over events, JSON and NDJSON export,
 * retention with compaction, replay of a run's state as of any event, and re-runs.
 */
import { InvalidOptionError, RunNotFoundError } from '../errors.js';
import {
  assertKnownKeys,
  assertPlainObject,
  checkInteger,
  checkName,
  checkRunId,
} from '../internal/check.js';
import { decodeEvent, decodeRun } from '../internal/decode.js';
import { buildEventQuery } from '../internal/queries.js';
import { callStorage } from '../internal/storage-call.js';
import type { EnqueueResult, ListEventsOptions, Run, RunEvent } from '../run.js';
import {
  type GroupCounts,
  RUN_STATES,
  type RunFilter,
  type RunRecord,
  type Storage,
} from '../storage/contract.js';
import { checkTenantId } from '../tenancy/tenant-id.js';
import {
  describeQuery,
  EXPORT_FORMAT,
  EXPORT_VERSION,
  type ExportFormat,
  encodeExport,
} from './export.js';
import {
  type AttemptSummary,
  type HistorySnapshot,
  initialStateOf,
  replayEvents,
  summarizeAttempts,
} from './replay.js';
import { linksOf, type RerunDependencies, type RunLinks, rerun } from './rerun.js';
import {
  applyRetention,
  type CompactOptions,
  compactEvents,
  type RetentionPolicy,
  type RetentionResult,
} from './retention.js';

/** A query over history events; every field narrows it. Events come oldest first. */
export type HistoryQuery = Omit<ListEventsOptions, 'limit' | 'cursor'> & {
  /** Events read per storage call, from 1 to 1,000. Default 1,000. */
  pageSize?: number;
};

/** Options of `history.export`. */
export interface ExportOptions extends HistoryQuery {
  /** `json` (one document) or `ndjson` (one object per line). */
  format: ExportFormat;
  /** Include the run of `runId`, or the runs of `groupId`, before the events. Default true. */
  includeRuns?: boolean;
}

/** Options of timelines and replays. */
export interface TimelineOptions {
  /** Most events read; past it the result is marked `truncated`. Default 10,000. */
  maxEvents?: number;
}

/** A run with its history and attempts. */
export interface RunTimeline {
  run: Run;
  events: RunEvent[];
  attempts: AttemptSummary[];
  /** True when the history has more than `maxEvents` events, of which `events` contains the oldest. */
  truncated: boolean;
}

/** A group (batch or workflow instance) with its runs and their merged history. */
export interface GroupTimeline {
  groupId: string;
  counts: GroupCounts;
  /** The group's runs, oldest first, up to `maxEvents` of them. */
  runs: Run[];
  /** Events of every run of the group, oldest first. */
  events: RunEvent[];
  truncated: boolean;
}

/** Every snapshot of a run's history. */
export interface RunReplay {
  run: Run;
  /** One snapshot per event: the state right after it. */
  snapshots: HistorySnapshot[];
  truncated: boolean;
}

/** A point of a run's history: an event id, or a time (the last event at or before it). */
export type HistoryPoint = { eventId: string } | { at: Date };

export interface HistoryDependencies extends RerunDependencies {
  ensureReady(operation: string): Promise<void>;
  /**
   * The tenant a history view is limited to: it reads only that tenant's runs and events, and
   * another tenant's run id behaves as an unknown one. Absent for `zap.history`.
   */
  tenantId?: string;
}

const DEFAULT_MAX_EVENTS = 10_000;
const MAX_PAGE_SIZE = 1_000;

export class History {
  readonly #deps: HistoryDependencies;
  readonly #storage: Storage;

  /** @internal Use `zap.history`. */
  constructor(deps: HistoryDependencies) {
    this.#deps = deps;
    this.#storage = deps.storage;
  }

  /** @internal The history of one tenant; use `zap.forTenant(id).history`. */
  forTenant(tenantId: string): TenantHistory {
    const checked = checkTenantId('tenantId', tenantId);
    return new TenantHistory(new History({ ...this.#deps, tenantId: checked }));
  }

  /** Iterates every event that matches a query, oldest first, one storage page at a time. */
  async *events(query: HistoryQuery = {}): AsyncGenerator<RunEvent> {
    for await (const page of this.#pages(query, 'events')) yield* page;
  }

  /** Returns a run with its events and a summary of each attempt. */
  async timeline(runId: string, options: TimelineOptions = {}): Promise<RunTimeline> {
    const maxEvents = checkMaxEvents(options);
    const record = await this.#run(runId, 'timeline');
    const { events, truncated } = await this.#collect({ runId }, maxEvents);
    return { run: decodeRun(record), events, attempts: summarizeAttempts(events), truncated };
  }

  /** Returns a group's runs, its counts by state and the merged history of its runs. */
  async groupTimeline(groupId: string, options: TimelineOptions = {}): Promise<GroupTimeline> {
    const maxEvents = checkMaxEvents(options);
    await this.#deps.ensureReady('groupTimeline');
    checkName('groupId', groupId);
    const counts = await this.#countGroup(groupId);
    const runs: Run[] = [];
    for await (const page of this.#runPages(groupId)) {
      runs.push(...page.slice(0, maxEvents - runs.length));
      if (runs.length >= maxEvents) break;
    }
    const { events, truncated } = await this.#collect({ groupId }, maxEvents);
    return { groupId, counts, runs, events, truncated: truncated || runs.length < counts.total };
  }

  /**
   * Exports runs and events as JSON or NDJSON text, chunk by chunk. Pipe it to a file with
   * `pipeline(Readable.from(zap.history.export(...)), createWriteStream(path))`.
   */
  async *export(options: ExportOptions): AsyncGenerator<string> {
    assertPlainObject('options', options);
    const { format, includeRuns, ...query } = options;
    if (format !== 'json' && format !== 'ndjson') {
      throw new InvalidOptionError('format', format, 'one of "json", "ndjson"');
    }
    if (includeRuns !== undefined && typeof includeRuns !== 'boolean') {
      throw new InvalidOptionError('includeRuns', includeRuns, 'true or false');
    }
    const events = this.#pages(query, 'export');
    const tenantId = this.#deps.tenantId;
    const header = {
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      exportedAt: new Date().toISOString(),
      query: describeQuery(tenantId === undefined ? query : { ...query, tenantId }),
    } as const;
    yield* encodeExport(format, header, this.#exportRuns(query, includeRuns !== false), events);
  }

  async *#exportRuns(query: HistoryQuery, include: boolean): AsyncGenerator<Run[]> {
    if (!include) return;
    if (query.runId !== undefined) {
      // Checked before the read, because the event query is checked only after the runs are sent.
      const runId = checkName('runId', query.runId);
      const record = await callStorage(this.#storage, 'getRun', () => this.#storage.getRun(runId));
      if (record !== null && this.#owns(record)) yield [decodeRun(record)];
    } else if (query.groupId !== undefined) {
      yield* this.#runPages(checkName('groupId', query.groupId));
    }
  }

  /** Drops old events of the given types (default log and progress), keeping lifecycle ones. */
  async compact(options: CompactOptions): Promise<number> {
    await this.#deps.ensureReady('compact');
    return compactEvents(this.#storage, options);
  }

  /** Purges old finished runs and compacts the history of the rest, once. */
  async applyRetention(policy: RetentionPolicy): Promise<RetentionResult> {
    await this.#deps.ensureReady('applyRetention');
    return applyRetention(this.#storage, policy);
  }

  /** Rebuilds a run's state after each event of its history. */
  async replay(runId: string, options: TimelineOptions = {}): Promise<RunReplay> {
    const maxEvents = checkMaxEvents(options);
    const record = await this.#run(runId, 'replay');
    const { events, truncated } = await this.#collect({ runId }, maxEvents);
    return { run: decodeRun(record), snapshots: await this.#replay(record, events), truncated };
  }

  /**
   * Returns the run's state as of a point of its history (time travel): right after the event with
   * `eventId`, or after the last event at or before `at`. Throws InvalidOptionError when the
   * point is not in the run's history.
   */
  async stateAt(runId: string, point: HistoryPoint): Promise<HistorySnapshot> {
    assertPlainObject('point', point);
    assertKnownKeys(point, ['eventId', 'at'], '', ' of stateAt');
    const record = await this.#run(runId, 'stateAt');

    // The whole history is read even for an early point: the state right after `enqueued`
    // depends on whether a later event rescheduled the run.
    const { events } = await this.#collect({ runId }, Number.POSITIVE_INFINITY);
    let index: number;
    if ('eventId' in point) {
      const eventId = checkName('eventId', point.eventId);
      index = events.findIndex((event) => event.id === eventId);
      if (index === -1) {
        throw new InvalidOptionError('eventId', eventId, `the id of an event of run "${runId}"`);
      }
    } else {
      const at = point.at;
      if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
        throw new InvalidOptionError('at', at, 'a valid Date');
      }
      index = events.findLastIndex((event) => event.at.getTime() <= at.getTime());
      if (index === -1) {
        const createdAt = new Date(record.createdAt).toISOString();
        throw new InvalidOptionError(
          'at',
          at,
          `a time at or after run "${runId}" was enqueued (${createdAt})`,
        );
      }
    }
    const snapshots = await this.#replay(record, events);
    return snapshots[index]!;
  }

  /** Enqueues a finished run again as a new run linked to it; see `links`. */
  async rerun(runId: string): Promise<EnqueueResult> {
    await this.#deps.ensureReady('rerun');
    if (this.#deps.tenantId !== undefined) await this.#run(runId, 'rerun');
    return rerun(this.#deps, runId);
  }

  /** Returns the run this one re-runs, and the runs that re-run it. */
  async links(runId: string): Promise<RunLinks> {
    await this.#deps.ensureReady('links');
    if (this.#deps.tenantId !== undefined) await this.#run(runId, 'links');
    return linksOf(this.#storage, runId);
  }

  /** Reads a run; RunNotFoundError for an unknown id and for a run of another tenant. */
  async #run(runId: string, operation: string): Promise<RunRecord> {
    await this.#deps.ensureReady(operation);
    checkRunId('runId', runId);
    const record = await callStorage(this.#storage, 'getRun', () => this.#storage.getRun(runId));
    // A run's tenant never changes, so a run seen here stays out of reach of other tenants.
    if (record === null || !this.#owns(record)) throw new RunNotFoundError(runId);
    return record;
  }

  /** Whether this view may see the run: always for `zap.history`. */
  #owns(record: RunRecord): boolean {
    return this.#deps.tenantId === undefined || record.tenantId === this.#deps.tenantId;
  }

  /** Counts a group's runs by state, only the tenant's in a tenant's view. */
  async #countGroup(groupId: string): Promise<GroupCounts> {
    const tenantId = this.#deps.tenantId;
    if (tenantId === undefined) {
      return callStorage(this.#storage, 'countGroup', () => this.#storage.countGroup(groupId));
    }
    const byState = await callStorage(this.#storage, 'countRuns', () =>
      this.#storage.countRuns({ groupId, tenantId }),
    );
    const total = RUN_STATES.reduce((sum, state) => sum + (byState[state] ?? 0), 0);
    return { total, byState };
  }

  async #replay(record: RunRecord, events: readonly RunEvent[]): Promise<HistorySnapshot[]> {
    const decoded = decodeRun(record);
    const parents = await callStorage(this.#storage, 'listDependencies', () =>
      this.#storage.listDependencies(record.id),
    );
    const waitedOnParents =
      parents.length > 0 &&
      (record.state === 'waiting' || events.some((event) => event.type === 'dependencies-met'));
    return replayEvents(events, {
      runId: record.id,
      initialState: initialStateOf({ waitedOnParents, runAt: record.runAt, events }),
      output: decoded.output,
      error: record.error,
    });
  }

  async #collect(
    query: HistoryQuery,
    maxEvents: number,
  ): Promise<{ events: RunEvent[]; truncated: boolean }> {
    const events: RunEvent[] = [];
    for await (const page of this.#pages(query, 'history')) {
      for (const event of page) {
        if (events.length >= maxEvents) return { events, truncated: true };
        events.push(event);
      }
    }
    return { events, truncated: false };
  }

  async *#pages(query: HistoryQuery, operation: string): AsyncGenerator<RunEvent[]> {
    assertPlainObject('query', query);
    for (const key of ['limit', 'cursor']) {
      if (key in query) {
        throw new InvalidOptionError(
          key,
          (query as Record<string, unknown>)[key],
          `no ${key} in a query of ${operation}, which reads every page; set pageSize instead`,
        );
      }
    }
    const { pageSize, ...filter } = query;
    const limit =
      pageSize === undefined ? MAX_PAGE_SIZE : checkInteger('pageSize', pageSize, 1, MAX_PAGE_SIZE);
    const tenantId = this.#deps.tenantId;
    if (tenantId !== undefined && filter.tenantId !== undefined && filter.tenantId !== tenantId) {
      throw new InvalidOptionError(
        'tenantId',
        filter.tenantId,
        `"${tenantId}" or no tenantId, because this history is limited to that tenant`,
      );
    }
    const storageQuery = buildEventQuery({
      ...filter,
      tenantId: tenantId ?? filter.tenantId,
      limit,
    });
    await this.#deps.ensureReady(operation);
    let cursor: string | undefined;
    do {
      const request = cursor === undefined ? storageQuery : { ...storageQuery, cursor };
      const page = await callStorage(this.#storage, 'listEvents', () =>
        this.#storage.listEvents(request),
      );
      yield page.items.map(decodeEvent);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  async *#runPages(groupId: string): AsyncGenerator<Run[]> {
    const filter: RunFilter = { groupId };
    if (this.#deps.tenantId !== undefined) filter.tenantId = this.#deps.tenantId;
    let cursor: string | undefined;
    do {
      const page = await callStorage(this.#storage, 'listRuns', () =>
        this.#storage.listRuns(
          filter,
          cursor === undefined
            ? { limit: MAX_PAGE_SIZE, order: 'asc' }
            : { limit: MAX_PAGE_SIZE, order: 'asc', cursor },
        ),
      );
      yield page.items.map((record) => decodeRun(record));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }
}

function checkMaxEvents(options: TimelineOptions): number {
  assertPlainObject('options', options);
  assertKnownKeys(options, ['maxEvents'], '', ' of the timeline');
  return options.maxEvents === undefined
    ? DEFAULT_MAX_EVENTS
    : checkInteger('maxEvents', options.maxEvents, 1, 10_000_000);
}

/**
 * The history of one tenant, `zap.forTenant(id).history`: the reads, replays and re-runs of
 * {@link History}, limited to that tenant's runs and events. A run id of another tenant is
 * reported as not found, as an unknown id is. Compaction and retention act on every tenant at
 * once, so they stay on `zap.history`.
 */
export class TenantHistory {
  readonly #history: History;

  /** @internal Use `zap.forTenant(id).history`. */
  constructor(history: History) {
    this.#history = history;
  }

  /** Iterates the tenant's events that match a query, oldest first; see `History.events`. */
  events(query: HistoryQuery = {}): AsyncGenerator<RunEvent> {
    return this.#history.events(query);
  }

  /** Returns a run of the tenant with its events and attempts; see `History.timeline`. */
  timeline(runId: string, options?: TimelineOptions): Promise<RunTimeline> {
    return this.#history.timeline(runId, options);
  }

  /** Returns the tenant's runs of a group with their history; see `History.groupTimeline`. */
  groupTimeline(groupId: string, options?: TimelineOptions): Promise<GroupTimeline> {
    return this.#history.groupTimeline(groupId, options);
  }

  /** Exports the tenant's runs and events as JSON or NDJSON; see `History.export`. */
  export(options: ExportOptions): AsyncGenerator<string> {
    return this.#history.export(options);
  }

  /** Rebuilds a run's state after each event; see `History.replay`. */
  replay(runId: string, options?: TimelineOptions): Promise<RunReplay> {
    return this.#history.replay(runId, options);
  }

  /** Returns a run's state as of a point of its history; see `History.stateAt`. */
  stateAt(runId: string, point: HistoryPoint): Promise<HistorySnapshot> {
    return this.#history.stateAt(runId, point);
  }

  /** Enqueues a finished run of the tenant again; see `History.rerun`. */
  rerun(runId: string): Promise<EnqueueResult> {
    return this.#history.rerun(runId);
  }

  /** Returns the re-run links of a run of the tenant; see `History.links`. */
  links(runId: string): Promise<RunLinks> {
    return this.#history.links(runId);
  }
}
