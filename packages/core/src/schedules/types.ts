/**
 * Public shapes of schedules: declarations, stored schedules, scheduler options and events.
 *
 * A schedule is a named recurring trigger that creates runs of one job. It fires on a cron
 * expression in a time zone, or on a fixed interval. Each due time is an occurrence.
 */
import type { AnyJob, InputOf } from '../job.js';
import type { EnqueueOptions } from '../run.js';
import type {
  QuotaExceededError,
  TenantDeletedError,
  TenantSuspendedError,
} from '../tenancy/errors.js';
import type { MisfirePolicy } from './misfire.js';

export type { MisfirePolicy } from './misfire.js';

/** Misfire handling: the runs created for occurrences handled more than `thresholdMs` late. */
export interface ScheduleMisfireOptions {
  /**
   * `fire-once` (default): one run for all due occurrences. `skip`: no run for misfired
   * occurrences, only a `schedule.misfired` event. `fire-all`: one run per due occurrence,
   * the latest `maxFires` of them.
   */
  policy?: MisfirePolicy;
  /** Lateness in milliseconds up to which an occurrence fires as usual. Default 60,000. */
  thresholdMs?: number;
  /**
   * Most runs one handling of the schedule creates, from 1 to 1,000. Default 100. On-time
   * occurrences past the cap fire in the next handling; misfired ones past it get no run.
   */
  maxFires?: number;
}

/**
 * What an occurrence does while an earlier run of the same schedule has not finished (it is
 * waiting, scheduled, available, running or suspended). `allow` (default): runs may overlap.
 * `skip`: the occurrence gets no run and a `schedule.skipped` event. `delay`: the run waits
 * until the earlier run finished, whatever its outcome.
 */
export type OverlapPolicy = 'allow' | 'skip' | 'delay';

/** Enqueue options that a schedule applies to each run it creates. */
export type ScheduleRunOptions = Pick<
  EnqueueOptions,
  | 'queue'
  | 'priority'
  | 'attempts'
  | 'backoff'
  | 'timeoutMs'
  | 'partitionKey'
  | 'tenantId'
  | 'metadata'
  | 'historyLevel'
>;

/** A schedule to create or update with `zap.schedules.upsert`. */
export interface ScheduleDeclaration<J extends AnyJob = AnyJob> {
  /**
   * Name, at most 200 characters, unique within the schedule's tenant (`runOptions.tenantId`,
   * or none): upserting a name that the tenant already has updates that schedule.
   */
  name: string;
  /** The job each occurrence runs, by definition or registered name. */
  job: J | string;
  /** Input of every run; checked against the job's input schema at upsert. */
  input: InputOf<J>;
  /**
   * Cron expression: 5 fields (minute first) or 6 (second first). Set exactly one of `cron`
   * and `everyMs`. See the README for the syntax and the daylight-saving policy.
   */
  cron?: string;
  /**
   * Fixed interval in milliseconds, from 1,000 to about ten years. Occurrences are the whole
   * multiples of it since the Unix epoch, so 3,600,000 fires on the hour, in UTC.
   */
  everyMs?: number;
  /** IANA time zone that `cron` is read in, such as `Europe/London`. Default `UTC`. */
  timezone?: string;
  misfire?: ScheduleMisfireOptions;
  /** Default `allow`. */
  overlap?: OverlapPolicy;
  /** Pause state of a new schedule. An existing schedule keeps its own. Default false. */
  paused?: boolean;
  /** Options of each run, as for enqueue. Default: the job's defaults. */
  runOptions?: ScheduleRunOptions;
}

/** A stored schedule, decoded. */
export interface Schedule<I = unknown> {
  name: string;
  job: string;
  input: I;
  cron: string | null;
  everyMs: number | null;
  /** Time zone of `cron`; null means UTC. */
  timezone: string | null;
  paused: boolean;
  /** Next occurrence still to fire, or null when the schedule never fires again. */
  nextFireAt: Date | null;
  /** Latest occurrence handled, fired or skipped. */
  lastFireAt: Date | null;
  misfire: Required<ScheduleMisfireOptions>;
  overlap: OverlapPolicy;
  runOptions: ScheduleRunOptions;
  tenantId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A cron or interval timing without a stored schedule, for `nextFireTimes`. */
export type ScheduleTimingSpec = { cron: string; timezone?: string } | { everyMs: number };

/** Options of a scheduler; see `zap.createScheduler`. */
export interface SchedulerOptions {
  /**
   * Maximum wait in milliseconds between two checks for due schedules. A scheduler also wakes
   * at the next fire time it knows of, so this only bounds how late it notices schedules
   * that other processes upserted or fired. Default 1,000.
   */
  pollIntervalMs?: number;
  /** Most due schedules read per storage query, from 1 to 1,000. Default 100. */
  batchSize?: number;
  /**
   * Reference time in epoch ms for misfire decisions. Default: the storage clock. Tests pass a
   * fixed time to make misfire handling exact; it must not be ahead of the storage clock.
   */
  clock?: () => number | Promise<number>;
}

/** What one handling of a due schedule did, as `scheduler.runOnce()` returns it. */
export interface ScheduleFireReport {
  schedule: string;
  /** The schedule's tenant, or null for a schedule without one. */
  tenantId: string | null;
  /** False when another process handled this occurrence first; nothing else happened then. */
  fired: boolean;
  /** Runs created, oldest occurrence first. */
  runIds: string[];
  /** Occurrences that got a run, matching `runIds`. */
  scheduledFor: Date[];
  /** Misfired occurrences, or null when every handled occurrence was on time. */
  missed: { count: number; countIsLowerBound: boolean; first: Date; last: Date } | null;
  /** Occurrences that got no run because an earlier run had not finished (`overlap: skip`). */
  skippedForOverlap: number;
  /**
   * Occurrences that got no run because the schedule's tenant rejected it: the tenant is
   * suspended or deleted, or the runs would exceed one of its quotas.
   */
  skippedForTenant: number;
  /** The schedule's next fire time after this handling. */
  nextFireAt: Date | null;
}

/** Events of schedules, merged into `ZapJobsEvents`. */
export interface ScheduleEvents {
  /** A scheduler of this process created a run for an occurrence. */
  'schedule.fired': {
    schedule: string;
    /** The schedule's tenant and its run's, or null; the same field on every `schedule.*` event. */
    tenantId: string | null;
    job: string;
    runId: string;
    scheduledFor: Date;
    /** Milliseconds between the occurrence and the scheduler's reference time. */
    lateMs: number;
    /** True when the occurrence was later than the schedule's `thresholdMs`. */
    misfired: boolean;
    /** The earlier run this one waits for (`overlap: delay`), or null. */
    waitingFor: string | null;
  };
  /** A scheduler of this process handled occurrences later than their `thresholdMs`. */
  'schedule.misfired': {
    schedule: string;
    tenantId: string | null;
    job: string;
    policy: MisfirePolicy;
    /** Misfired occurrences; a lower bound past 1,000 when `missedIsLowerBound`. */
    missed: number;
    missedIsLowerBound: boolean;
    firstMissedAt: Date;
    lastMissedAt: Date;
    /** Runs created in this handling, for misfired and on-time occurrences. */
    runIds: string[];
  };
  /** An occurrence got no run, for the cause in `reason`. */
  'schedule.skipped': ScheduleSkippedEvent;
}

/**
 * Payload of `schedule.skipped`. `reason` is `overlap` when an earlier run of the schedule had
 * not finished (`overlap: skip`). It is `tenant` when the schedule's tenant rejected the run as
 * it rejects an enqueue, because the tenant is suspended or deleted or the run would exceed a
 * quota.
 */
export type ScheduleSkippedEvent = {
  schedule: string;
  tenantId: string | null;
  job: string;
  scheduledFor: Date;
} & (
  | {
      reason: 'overlap';
      /**
       * The unfinished run, or the run created for a later occurrence in the same handling,
       * which a catch-up of several occurrences runs instead of overlapping runs.
       */
      runningRunId: string;
    }
  | {
      reason: 'tenant';
      /** The error the tenant rejected the run with, as an enqueue would have received it. */
      error: TenantSuspendedError | TenantDeletedError | QuotaExceededError;
    }
);
