/**
 * The scheduler: finds due schedules and fires them. Any number of schedulers, in one process
 * or many, may share a storage, because each occurrence fires by compare-and-set on the
 * schedule's stored next fire time, so only one of them fires it.
 */
import { InvalidOptionError } from '../errors.js';
import { assertKnownKeys, assertPlainObject, checkInteger } from '../internal/check.js';
import { errorMessage } from '../internal/decode.js';
import type { ClientInternals } from '../internal/internals.js';
import { callStorage } from '../internal/storage-call.js';
import { Wakeup } from '../internal/wakeup.js';
import type { ScheduleRecord } from '../storage/contract.js';
import type { Schedules } from './api.js';
import { fireSchedule } from './fire.js';
import { type OccurrenceSource, occurrencesOf } from './occurrences.js';
import { parseStoredOptions, scheduleKeyString, timingOf } from './options.js';
import type { ScheduleFireReport, SchedulerOptions } from './types.js';

/** Lifecycle of a scheduler. */
export type SchedulerState = 'idle' | 'running' | 'stopping' | 'stopped';

const OPTION_KEYS = ['pollIntervalMs', 'batchSize', 'clock'];
/** Most batches of due schedules one `runOnce` reads before it yields. */
const MAX_BATCHES_PER_PASS = 10;
/** Maximum wait between passes while the storage keeps failing, in ms. */
const MAX_FAILURE_BACKOFF_MS = 30_000;
/** Compiled timings kept for reuse; cron compilation costs a few milliseconds. */
const MAX_CACHED_TIMINGS = 1_000;

/**
 * A scheduler of a {@link ZapJobs} client; create it with `zap.createScheduler(options)` and
 * call `start()`. `zap.close()` stops it.
 */
export class Scheduler {
  readonly #internals: ClientInternals;
  readonly #pollIntervalMs: number;
  readonly #batchSize: number;
  readonly #clock: (() => number | Promise<number>) | null;
  readonly #wake = new Wakeup();
  readonly #timings = new Map<string, OccurrenceSource>();
  /**
   * Next fire times that this scheduler has seen, on the storage clock, by schedule key (see
   * `scheduleKeyString`), like the other maps by schedule below.
   */
  readonly #hints = new Map<string, number>();
  /** Consecutive failures per schedule, to log a failing schedule once per minute or so. */
  readonly #failures = new Map<string, number>();
  readonly #schedules: Schedules;

  #state: SchedulerState = 'idle';
  #starting: Promise<void> | null = null;
  #loop: Promise<void> | null = null;
  #stopListening: (() => void) | null = null;
  #clockOffsetMs = 0;
  #passFailures = 0;

  /** @internal Use `ZapJobs.createScheduler`. */
  constructor(internals: ClientInternals, schedules: Schedules, options: SchedulerOptions = {}) {
    assertPlainObject('options', options);
    assertKnownKeys(options, OPTION_KEYS, '', ' of createScheduler');
    this.#internals = internals;
    this.#schedules = schedules;
    this.#pollIntervalMs =
      options.pollIntervalMs === undefined
        ? 1_000
        : checkInteger('pollIntervalMs', options.pollIntervalMs, 1, 3_600_000);
    this.#batchSize =
      options.batchSize === undefined
        ? 100
        : checkInteger('batchSize', options.batchSize, 1, 1_000);
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new InvalidOptionError('clock', options.clock, 'a function returning epoch ms');
    }
    this.#clock = options.clock ?? null;
  }

  /** Current lifecycle state. */
  get state(): SchedulerState {
    return this.#state;
  }

  /**
   * Starts firing due schedules in the background; resolves once the loop runs. Does nothing
   * while already running; a stopped scheduler starts again.
   */
  start(): Promise<void> {
    if (this.#state === 'running') return Promise.resolve();
    if (this.#starting === null) {
      this.#starting = this.#start().finally(() => {
        this.#starting = null;
      });
    }
    return this.#starting;
  }

  async #start(): Promise<void> {
    if (this.#state === 'stopping') await this.#loop;
    await this.#internals.ensureReady('start a scheduler');
    this.#stopListening = this.#schedules.onFireTime((key, nextFireAt) => {
      if (nextFireAt === null) this.#hints.delete(key);
      else this.#hints.set(key, nextFireAt);
      this.#wake.notify();
    });
    try {
      const storage = this.#internals.storage;
      const records = await callStorage(storage, 'listSchedules', () => storage.listSchedules());
      for (const record of records) {
        if (!record.paused && record.nextFireAt !== null) {
          this.#hints.set(scheduleKeyString(record), record.nextFireAt);
        }
      }
    } catch (error) {
      this.#stopListening();
      this.#stopListening = null;
      throw error;
    }
    this.#state = 'running';
    this.#passFailures = 0;
    this.#loop = this.#run();
    this.#internals.logger.info({}, 'Scheduler started');
  }

  /** Stops the loop after the schedule it is firing, if any. Safe to call more than once. */
  async stop(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    if (this.#state !== 'running') {
      await this.#loop;
      return;
    }
    this.#state = 'stopping';
    this.#wake.notify();
    await this.#loop;
    this.#stopListening?.();
    this.#stopListening = null;
    this.#state = 'stopped';
    this.#internals.logger.info({}, 'Scheduler stopped');
  }

  /**
   * Fires every schedule due now, once, and returns what happened to each. For serverless
   * setups that call it from an external timer, and for tests. A schedule whose handling fails
   * is logged and left due for the next pass; a failing storage query rejects.
   */
  async runOnce(): Promise<ScheduleFireReport[]> {
    await this.#internals.ensureReady('run a scheduler');
    const storage = this.#internals.storage;
    const { now, storageNow } = await this.#now();
    const reports: ScheduleFireReport[] = [];
    const seen = new Set<string>();

    for (let batch = 0; batch < MAX_BATCHES_PER_PASS; batch++) {
      const due = await callStorage(storage, 'dueSchedules', () =>
        storage.dueSchedules(this.#batchSize),
      );
      const fresh = due.filter((record) => !seen.has(scheduleKeyString(record)));
      for (const record of fresh) {
        seen.add(scheduleKeyString(record));
        const report = await this.#handle(record, now);
        if (report !== null) reports.push(report);
      }
      if (due.length < this.#batchSize || fresh.length === 0) break;
    }

    // Known fire times that have passed were handled now, or by another process.
    for (const [key, time] of this.#hints) if (time <= storageNow) this.#hints.delete(key);
    for (const report of reports) {
      if (report.fired && report.nextFireAt !== null) {
        const key = scheduleKeyString({ name: report.schedule, tenantId: report.tenantId });
        this.#hints.set(key, report.nextFireAt.getTime());
      }
    }
    return reports;
  }

  async #handle(record: ScheduleRecord, now: number): Promise<ScheduleFireReport | null> {
    if (record.nextFireAt === null || record.nextFireAt > now) return null;
    const key = scheduleKeyString(record);
    try {
      const options = parseStoredOptions(record);
      const report = await fireSchedule(
        this.#internals,
        record,
        options,
        this.#timing(record),
        now,
      );
      this.#failures.delete(key);
      return report;
    } catch (error) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      if (failures === 1 || failures % 60 === 0) {
        this.#internals.logger.error(
          { err: error, schedule: record.name, tenantId: record.tenantId, failures },
          `Scheduler failed to fire schedule "${record.name}" (${failures} time(s) in a row); ` +
            `it stays due and is retried: ${errorMessage(error)}`,
        );
      }
      return null;
    }
  }

  #timing(record: ScheduleRecord): OccurrenceSource {
    const key = `${record.cron}|${record.timezone}|${record.intervalMs}`;
    let source = this.#timings.get(key);
    if (source === undefined) {
      source = occurrencesOf(timingOf(record));
      if (this.#timings.size >= MAX_CACHED_TIMINGS) this.#timings.clear();
      this.#timings.set(key, source);
    }
    return source;
  }

  /** Reads the storage clock, updates the local clock offset, and returns the reference time. */
  async #now(): Promise<{ now: number; storageNow: number }> {
    const storage = this.#internals.storage;
    const sentAt = Date.now();
    const storageNow = await callStorage(storage, 'now', () => storage.now());
    this.#clockOffsetMs = storageNow - (sentAt + Date.now()) / 2;
    if (this.#clock === null) return { now: storageNow, storageNow };
    const now = await this.#clock();
    if (typeof now !== 'number' || !Number.isFinite(now)) {
      throw new InvalidOptionError('clock()', now, 'a finite number of epoch milliseconds');
    }
    return { now, storageNow };
  }

  async #run(): Promise<void> {
    while (this.#state === 'running') {
      let waitMs: number;
      try {
        await this.runOnce();
        this.#passFailures = 0;
        waitMs = this.#idleWait();
      } catch (error) {
        this.#passFailures++;
        waitMs = Math.min(
          this.#pollIntervalMs * 2 ** Math.min(this.#passFailures - 1, 10),
          MAX_FAILURE_BACKOFF_MS,
        );
        if (this.#passFailures === 1 || this.#passFailures % 10 === 0) {
          this.#internals.logger.error(
            { err: error, failures: this.#passFailures, waitMs },
            `Scheduler failed to read due schedules (${this.#passFailures} time(s) in a row), ` +
              `retrying in ${waitMs} ms: ${errorMessage(error)}`,
          );
        }
      }
      if (this.#state !== 'running') break;
      await this.#wake.wait(waitMs);
    }
  }

  /** Milliseconds until the earliest known fire time, at most the poll interval. */
  #idleWait(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const time of this.#hints.values()) earliest = Math.min(earliest, time);
    const untilDue = earliest - (Date.now() + this.#clockOffsetMs) + 1;
    return Math.max(0, Math.min(this.#pollIntervalMs, untilDue));
  }
}
