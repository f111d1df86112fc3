/**
 * `zap.schedules`: declare, inspect, pause, resume and delete schedules, and preview their fire
 * times. Schedulers (`zap.createScheduler`) fire them.
 */
import { InvalidOptionError, ScheduleNotFoundError } from '../errors.js';
import { checkInteger } from '../internal/check.js';
import type { ClientInternals } from '../internal/internals.js';
import { callStorage } from '../internal/storage-call.js';
import { type AnyJob, isJob } from '../job.js';
import type { ScheduleRecord, ScheduleUpsert } from '../storage/contract.js';
import { checkTiming, nextOccurrences, occurrencesOf } from './occurrences.js';
import {
  checkDeclaration,
  checkDeclarationShape,
  checkScheduleName,
  decodeSchedule,
  timingChanged,
  timingOf,
} from './options.js';
import type { Schedule, ScheduleDeclaration, ScheduleTimingSpec } from './types.js';

/** Most fire times one `nextFireTimes` call returns. */
const MAX_FIRE_TIMES = 1_000;

/** Receives the next fire time of schedules this client upserted or resumed. */
export type FireTimeListener = (name: string, nextFireAt: number | null) => void;

/** The schedules of a client's storage; reach it as `zap.schedules`. */
export class Schedules {
  readonly #internals: ClientInternals;
  readonly #listeners = new Set<FireTimeListener>();

  /** @internal Created by the client. */
  constructor(internals: ClientInternals) {
    this.#internals = internals;
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
      declaration as ScheduleDeclaration,
      job,
      this.#internals.maxPayloadBytes,
    );

    const storage = this.#internals.storage;
    const [existing, now] = await Promise.all([
      callStorage(storage, 'getSchedule', () => storage.getSchedule(checked.name)),
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

  /** Lists every schedule. */
  async list(): Promise<Schedule[]> {
    await this.#internals.ensureReady('list schedules');
    const storage = this.#internals.storage;
    const records = await callStorage(storage, 'listSchedules', () => storage.listSchedules());
    return records.map(decodeSchedule);
  }

  /**
   * Pauses a schedule: no occurrence fires until `resume`. Runs already created are not
   * touched. Throws ScheduleNotFoundError for an unknown name.
   */
  async pause(name: string): Promise<Schedule> {
    await this.#internals.ensureReady('pause a schedule');
    checkScheduleName('name', name);
    const storage = this.#internals.storage;
    const found = await callStorage(storage, 'setSchedulePaused', () =>
      storage.setSchedulePaused(name, true),
    );
    if (!found) throw new ScheduleNotFoundError(name);
    return this.#mustGet(name);
  }

  /**
   * Resumes a paused schedule. Occurrences that fell in the pause are skipped without a
   * misfire: the next fire time becomes the first occurrence after now. Throws
   * ScheduleNotFoundError for an unknown name.
   */
  async resume(name: string): Promise<Schedule> {
    const record = await this.#read('resume a schedule', name);
    if (record === null) throw new ScheduleNotFoundError(name);
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
    const found = await callStorage(storage, 'setSchedulePaused', () =>
      storage.setSchedulePaused(name, false),
    );
    if (!found) throw new ScheduleNotFoundError(name);
    const resumed = await this.#mustGet(name);
    const nextFireAt = resumed.nextFireAt?.getTime() ?? null;
    for (const listener of this.#listeners) listener(name, nextFireAt);
    return resumed;
  }

  /** Deletes a schedule; runs it created are kept. Returns false when none had that name. */
  async delete(name: string): Promise<boolean> {
    await this.#internals.ensureReady('delete a schedule');
    checkScheduleName('name', name);
    const storage = this.#internals.storage;
    return callStorage(storage, 'deleteSchedule', () => storage.deleteSchedule(name));
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
      if (record === null) throw new ScheduleNotFoundError(schedule);
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
    for (const listener of this.#listeners) listener(record.name, record.nextFireAt);
  }

  async #read(operation: string, name: string): Promise<ScheduleRecord | null> {
    await this.#internals.ensureReady(operation);
    checkScheduleName('name', name);
    const storage = this.#internals.storage;
    return callStorage(storage, 'getSchedule', () => storage.getSchedule(name));
  }

  async #mustGet(name: string): Promise<Schedule> {
    const record = await this.#read('get a schedule', name);
    if (record === null) throw new ScheduleNotFoundError(name);
    return decodeSchedule(record);
  }

  #resolveJob(job: unknown): AnyJob {
    if (typeof job === 'string') return this.#internals.registry.require(job);
    if (isJob(job)) return job;
    throw new InvalidOptionError('job', job, 'a job definition or the name of a registered job');
  }
}
