/**
 * `zap.schedules` and `zap.forTenant(id).schedules`: declare, inspect, pause, resume and delete
 * schedules, and preview their fire times. Schedulers (`zap.createScheduler`) fire them.
 */
import { InvalidOptionError, ScheduleNotFoundError } from '../errors.js';
import { assertPlainObject, checkInteger } from '../internal/check.js';
import type { ClientInternals } from '../internal/internals.js';
import { callStorage } from '../internal/storage-call.js';
import { type AnyJob, isJob } from '../job.js';
import type { ScheduleKey, ScheduleRecord, ScheduleUpsert } from '../storage/contract.js';
import { checkTenantId } from '../tenancy/tenant-id.js';
import { checkTiming, nextOccurrences, occurrencesOf } from './occurrences.js';
import {
  checkDeclaration,
  checkDeclarationShape,
  checkScheduleName,
  decodeSchedule,
  scheduleKeyString,
  timingChanged,
  timingOf,
} from './options.js';
import type {
  Schedule,
  ScheduleDeclaration,
  ScheduleRunOptions,
  ScheduleTimingSpec,
} from './types.js';

/** Most fire times one `nextFireTimes` call returns. */
const MAX_FIRE_TIMES = 1_000;

/**
 * Receives the next fire time of schedules this client upserted or resumed, by the key that
 * `scheduleKeyString` builds.
 */
export type FireTimeListener = (key: string, nextFireAt: number | null) => void;

/** The tenant a view of the schedules is limited to; see `zap.forTenant`. */
interface TenantScope {
  tenantId: string;
  /** Sets `runOptions.partitionKey` to the tenant id when a declaration does not set one. */
  partitionByTenant: boolean;
}

/**
 * The schedules of a client's storage. Names are unique per tenant. Through `zap.schedules`, a
 * name passed to `get`, `pause`, `resume`, `delete` or `nextFireTimes` is that of a schedule
 * without a tenant, `upsert` files a declaration under its `runOptions.tenantId`, and `list`
 * returns the schedules of every tenant. Through `zap.forTenant(id).schedules`, every call
 * reaches only that tenant's schedules, and its declarations belong to that tenant.
 */
export class Schedules {
  readonly #internals: ClientInternals;
  /** Shared by every view of one client, so its schedulers hear about each of them. */
  readonly #listeners: Set<FireTimeListener>;
  readonly #scope: TenantScope | null;

  /** @internal Created by the client. */
  constructor(
    internals: ClientInternals,
    scope: TenantScope | null = null,
    listeners = new Set<FireTimeListener>(),
  ) {
    this.#internals = internals;
    this.#scope = scope;
    this.#listeners = listeners;
  }

  /** @internal The view of one tenant; use `zap.forTenant(id).schedules`. */
  forTenant(tenantId: string, partitionByTenant: boolean): TenantSchedules {
    const scope = { tenantId: checkTenantId('tenantId', tenantId), partitionByTenant };
    return new TenantSchedules(new Schedules(this.#internals, scope, this.#listeners));
  }

  /**
   * Creates or updates a schedule by name. Safe to call at every boot: declaring an unchanged
   * schedule keeps its next fire time, and no declaration touches runs already created. A
   * changed `cron`, `everyMs` or `timezone` moves the next fire time to the first occurrence of
   * the new timing after now. Input, options and timing are checked before anything is stored.
   */
  async upsert<J extends AnyJob>(declaration: ScheduleDeclaration<J>): Promise<Schedule> {
    await this.#internals.ensureReady('upsert a schedule');
    checkDeclarationShape(declaration);
    const job = this.#resolveJob(declaration.job);
    const checked = checkDeclaration(
      this.#scopeDeclaration(declaration as ScheduleDeclaration),
      job,
      this.#internals.maxPayloadBytes,
    );

    const storage = this.#internals.storage;
    const key: ScheduleKey = { name: checked.name, tenantId: checked.tenantId ?? null };
    const [existing, now] = await Promise.all([
      callStorage(storage, 'getSchedule', () => storage.getSchedule(key)),
      callStorage(storage, 'now', () => storage.now()),
    ]);
    const upsert: ScheduleUpsert = {
      name: checked.name,
      job: checked.job,
      input: checked.input,
      cron: checked.timing.cron,
      intervalMs: checked.timing.everyMs,
      timezone: checked.timing.timezone,
      options: JSON.stringify(checked.options),
      nextFireAt: occurrencesOf(checked.timing).next(now),
      resetNextFireAt: existing === null || timingChanged(existing, checked.timing),
      paused: checked.paused,
    };
    if (checked.tenantId !== undefined) upsert.tenantId = checked.tenantId;
    const record = await callStorage(storage, 'upsertSchedule', () =>
      storage.upsertSchedule(upsert),
    );
    this.#announce(record);
    return decodeSchedule(record);
  }

  /** Returns a schedule, or null when none has that name. */
  async get(name: string): Promise<Schedule | null> {
    const record = await this.#read('get a schedule', name);
    return record === null ? null : decodeSchedule(record);
  }

  /** Lists every schedule, or every schedule of the tenant of a tenant client. */
  async list(): Promise<Schedule[]> {
    await this.#internals.ensureReady('list schedules');
    const storage = this.#internals.storage;
    const filter = this.#scope === null ? undefined : { tenantId: this.#scope.tenantId };
    const records = await callStorage(storage, 'listSchedules', () =>
      storage.listSchedules(filter),
    );
    return records.map(decodeSchedule);
  }

  /**
   * Pauses a schedule: no occurrence fires until `resume`. Runs already created are not
   * touched. Throws ScheduleNotFoundError for an unknown name.
   */
  async pause(name: string): Promise<Schedule> {
    await this.#internals.ensureReady('pause a schedule');
    const key = this.#key(name);
    const storage = this.#internals.storage;
    const found = await callStorage(storage, 'setSchedulePaused', () =>
      storage.setSchedulePaused(key, true),
    );
    if (!found) throw this.#notFound(name);
    return this.#mustGet(name);
  }

  /**
   * Resumes a paused schedule. Occurrences that fell in the pause are skipped without a
   * misfire: the next fire time becomes the first occurrence after now. Throws
   * ScheduleNotFoundError for an unknown name.
   */
  async resume(name: string): Promise<Schedule> {
    const record = await this.#read('resume a schedule', name);
    if (record === null) throw this.#notFound(name);
    if (!record.paused) return decodeSchedule(record);

    const storage = this.#internals.storage;
    const now = await callStorage(storage, 'now', () => storage.now());
    // Moves the next fire time while the schedule is still paused, so no scheduler treats the
    // occurrences of the pause as due. NOTE: an upsert by another process between the read
    // above and this write is overwritten by the values read above.
    const upsert: ScheduleUpsert = {
      name: record.name,
      job: record.job,
      input: record.input,
      cron: record.cron,
      intervalMs: record.intervalMs,
      timezone: record.timezone,
      options: record.options,
      nextFireAt: occurrencesOf(timingOf(record)).next(now),
      resetNextFireAt: true,
    };
    if (record.tenantId !== null) upsert.tenantId = record.tenantId;
    await callStorage(storage, 'upsertSchedule', () => storage.upsertSchedule(upsert));
    const key = this.#key(name);
    const found = await callStorage(storage, 'setSchedulePaused', () =>
      storage.setSchedulePaused(key, false),
    );
    if (!found) throw this.#notFound(name);
    const resumed = await this.#mustGet(name);
    const nextFireAt = resumed.nextFireAt?.getTime() ?? null;
    for (const listener of this.#listeners) listener(scheduleKeyString(key), nextFireAt);
    return resumed;
  }

  /** Deletes a schedule; runs it created are kept. Returns false when none had that name. */
  async delete(name: string): Promise<boolean> {
    await this.#internals.ensureReady('delete a schedule');
    const key = this.#key(name);
    const storage = this.#internals.storage;
    return callStorage(storage, 'deleteSchedule', () => storage.deleteSchedule(key));
  }

  /**
   * Returns the next `count` fire times (1 to 1,000). For a schedule name: its stored next
   * fire time and the occurrences after it, paused or not. For a timing: the occurrences after
   * `after`, default the storage's now.
   */
  async nextFireTimes(
    schedule: string | ScheduleTimingSpec,
    count: number,
    options: { after?: Date } = {},
  ): Promise<Date[]> {
    checkInteger('count', count, 1, MAX_FIRE_TIMES);
    if (typeof schedule === 'string') {
      const record = await this.#read('compute fire times', schedule);
      if (record === null) throw this.#notFound(schedule);
      if (record.nextFireAt === null) return [];
      const source = occurrencesOf(timingOf(record));
      const rest = nextOccurrences(source, record.nextFireAt, count - 1);
      return [record.nextFireAt, ...rest].map((time) => new Date(time));
    }

    if (typeof schedule !== 'object' || schedule === null) {
      throw new InvalidOptionError(
        'schedule',
        schedule,
        'a schedule name, { cron, timezone? } or { everyMs }',
      );
    }
    const timing = checkTiming(schedule as { cron?: unknown; everyMs?: unknown });
    let after: number;
    if (options.after === undefined) {
      await this.#internals.ensureReady('compute fire times');
      const storage = this.#internals.storage;
      after = await callStorage(storage, 'now', () => storage.now());
    } else if (options.after instanceof Date && !Number.isNaN(options.after.getTime())) {
      after = options.after.getTime();
    } else {
      throw new InvalidOptionError('after', options.after, 'a valid Date');
    }
    return nextOccurrences(occurrencesOf(timing), after, count).map((time) => new Date(time));
  }

  /** @internal Lets schedulers of this client hear about new fire times at once. */
  onFireTime(listener: FireTimeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #announce(record: ScheduleRecord): void {
    if (record.paused) return;
    const key = scheduleKeyString(record);
    for (const listener of this.#listeners) listener(key, record.nextFireAt);
  }

  /** Checks a name and returns the key it has in this view's namespace. */
  #key(name: string): ScheduleKey {
    return { name: checkScheduleName('name', name), tenantId: this.#scope?.tenantId ?? null };
  }

  #notFound(name: string): ScheduleNotFoundError {
    return new ScheduleNotFoundError(name, this.#scope?.tenantId ?? null);
  }

  async #read(operation: string, name: string): Promise<ScheduleRecord | null> {
    await this.#internals.ensureReady(operation);
    const key = this.#key(name);
    const storage = this.#internals.storage;
    return callStorage(storage, 'getSchedule', () => storage.getSchedule(key));
  }

  async #mustGet(name: string): Promise<Schedule> {
    const record = await this.#read('get a schedule', name);
    if (record === null) throw this.#notFound(name);
    return decodeSchedule(record);
  }

  /**
   * Files a declaration of a tenant client under its tenant: `runOptions.tenantId` must be
   * absent or that tenant. Returns the declaration unchanged for `zap.schedules`.
   */
  #scopeDeclaration(declaration: ScheduleDeclaration): ScheduleDeclaration {
    if (this.#scope === null) return declaration;
    const { tenantId, partitionByTenant } = this.#scope;
    const runOptions = declaration.runOptions ?? {};
    assertPlainObject('runOptions', runOptions);
    if (runOptions.tenantId !== undefined && runOptions.tenantId !== tenantId) {
      throw new InvalidOptionError(
        'runOptions.tenantId',
        runOptions.tenantId,
        `"${tenantId}" or no tenantId, because this client is limited to that tenant`,
      );
    }
    const scoped: ScheduleRunOptions = { ...runOptions, tenantId };
    if (partitionByTenant && scoped.partitionKey === undefined) scoped.partitionKey = tenantId;
    return { ...declaration, runOptions: scoped };
  }

  #resolveJob(job: unknown): AnyJob {
    if (typeof job === 'string') return this.#internals.registry.require(job);
    if (isJob(job)) return job;
    throw new InvalidOptionError('job', job, 'a job definition or the name of a registered job');
  }
}

/**
 * The schedules of one tenant, `zap.forTenant(id).schedules`: the methods of {@link Schedules}
 * that declare, read and manage schedules, limited to that tenant. A name addresses only the
 * tenant's schedule of that name, and another tenant's schedule behaves as an unknown name.
 * The client-wide `forTenant` and `onFireTime` of `zap.schedules` are not part of this view.
 */
export class TenantSchedules {
  readonly #schedules: Schedules;

  /** @internal Use `zap.forTenant(id).schedules`. */
  constructor(schedules: Schedules) {
    this.#schedules = schedules;
  }

  /** Creates or updates a schedule of the tenant; see `Schedules.upsert`. */
  upsert<J extends AnyJob>(declaration: ScheduleDeclaration<J>): Promise<Schedule> {
    return this.#schedules.upsert(declaration);
  }

  /** Returns the tenant's schedule of that name, or null; see `Schedules.get`. */
  get(name: string): Promise<Schedule | null> {
    return this.#schedules.get(name);
  }

  /** Lists the tenant's schedules. */
  list(): Promise<Schedule[]> {
    return this.#schedules.list();
  }

  /** Pauses the tenant's schedule of that name; see `Schedules.pause`. */
  pause(name: string): Promise<Schedule> {
    return this.#schedules.pause(name);
  }

  /** Resumes the tenant's schedule of that name; see `Schedules.resume`. */
  resume(name: string): Promise<Schedule> {
    return this.#schedules.resume(name);
  }

  /** Deletes the tenant's schedule of that name; see `Schedules.delete`. */
  delete(name: string): Promise<boolean> {
    return this.#schedules.delete(name);
  }

  /** Returns the next fire times of a schedule of the tenant or of a timing. */
  nextFireTimes(
    schedule: string | ScheduleTimingSpec,
    count: number,
    options?: { after?: Date },
  ): Promise<Date[]> {
    return this.#schedules.nextFireTimes(schedule, count, options);
  }
}
