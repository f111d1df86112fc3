/**
 * Occurrences of a schedule's timing, cron or fixed interval, as epoch milliseconds. Pure: every
 * function takes the reference time as an argument, so tests pass any clock.
 */
import { InvalidOptionError } from '../errors.js';
import { checkInteger } from '../internal/check.js';
import { checkTimeZone, compileCron, nextCronOccurrence, previousCronOccurrences } from './cron.js';

/** Shortest interval of an `everyMs` schedule: 1 second. */
export const MIN_INTERVAL_MS = 1_000;
/** Maximum interval of an `everyMs` schedule: 3,660 days, about ten years. */
export const MAX_INTERVAL_MS = 3_660 * 86_400_000;

/** When a schedule fires: a cron expression in a time zone, or a fixed interval. */
export interface ScheduleTiming {
  cron: string | null;
  everyMs: number | null;
  /** IANA time zone of `cron`; null means UTC. Always null for `everyMs`. */
  timezone: string | null;
}

/** The occurrences of one timing. */
export interface OccurrenceSource {
  /** First occurrence strictly after `time`, or null when none follows. */
  next(time: number): number | null;
  /** Up to `count` latest occurrences at or before `time`, oldest first. */
  latest(time: number, count: number): number[];
}

/**
 * Checks a timing: exactly one of `cron` and `everyMs`, a valid expression and time zone.
 * Returns the timing normalized (cron whitespace collapsed).
 */
export function checkTiming(value: {
  cron?: unknown;
  everyMs?: unknown;
  timezone?: unknown;
}): ScheduleTiming {
  const { cron, everyMs, timezone } = value;
  if (cron !== undefined && everyMs !== undefined) {
    throw new InvalidOptionError(
      'everyMs',
      everyMs,
      'no everyMs when cron is set; a schedule has either a cron expression or an interval',
    );
  }
  if (cron === undefined && everyMs === undefined) {
    throw new InvalidOptionError(
      'cron',
      cron,
      'a cron expression such as "0 * * * *", or set everyMs to an interval in milliseconds',
    );
  }
  if (everyMs !== undefined) {
    if (timezone !== undefined) {
      throw new InvalidOptionError(
        'timezone',
        timezone,
        'no timezone with everyMs: an interval counts elapsed time, so use cron for local times',
      );
    }
    return {
      cron: null,
      everyMs: checkInteger('everyMs', everyMs, MIN_INTERVAL_MS, MAX_INTERVAL_MS),
      timezone: null,
    };
  }
  const zone = timezone === undefined ? null : checkTimeZone('timezone', timezone);
  const compiled = compileCron('cron', cron, zone);
  return { cron: compiled.expression, everyMs: null, timezone: zone };
}

/** Builds the occurrence source of a timing that `checkTiming` accepted. */
export function occurrencesOf(timing: ScheduleTiming): OccurrenceSource {
  if (timing.everyMs !== null) return intervalOccurrences(timing.everyMs);
  if (timing.cron === null) {
    throw new Error('A schedule timing needs either cron or everyMs; the stored one has neither.');
  }
  const { pattern } = compileCron('cron', timing.cron, timing.timezone);
  return {
    next: (time) => nextCronOccurrence(pattern, time),
    latest: (time, count) => previousCronOccurrences(pattern, time, count),
  };
}

/**
 * Occurrences of an interval: every whole multiple of `everyMs` since the Unix epoch (UTC), so
 * `everyMs: 3_600_000` fires on the hour and every process computes the same times.
 */
export function intervalOccurrences(everyMs: number): OccurrenceSource {
  return {
    next: (time) => (Math.floor(time / everyMs) + 1) * everyMs,
    latest: (time, count) => {
      const last = Math.floor(time / everyMs) * everyMs;
      const result: number[] = [];
      for (let index = count - 1; index >= 0; index--) result.push(last - index * everyMs);
      return result;
    },
  };
}

/** Returns the next `count` occurrences strictly after `after`, oldest first. */
export function nextOccurrences(source: OccurrenceSource, after: number, count: number): number[] {
  const result: number[] = [];
  let time = after;
  while (result.length < count) {
    const next = source.next(time);
    if (next === null) break;
    result.push(next);
    time = next;
  }
  return result;
}
