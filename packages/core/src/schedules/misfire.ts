/**
 * Misfire policy: which due occurrences of a schedule get a run when the scheduler handles it.
 * Pure functions of the stored next fire time and a reference time, so tests are exact.
 *
 * An occurrence is due once its time has passed. It misfired when the scheduler handles it more
 * than `thresholdMs` after its time, because every scheduler was down, paused by load, or
 * stopped. Due occurrences within the threshold always fire as ordinary occurrences; for the
 * misfired ones the policy decides:
 *
 * - `fire-once`: one run stands for every due occurrence (the latest one).
 * - `skip`: misfired occurrences get no run; on-time ones still fire.
 * - `fire-all`: one run per due occurrence, the latest `maxFires` of them.
 */

/** What a schedule does with occurrences it handles more than `thresholdMs` late. */
export type MisfirePolicy = 'fire-once' | 'skip' | 'fire-all';

/** Misfire settings of a schedule, with defaults applied. */
export interface MisfireSettings {
  policy: MisfirePolicy;
  /** Lateness in ms up to which an occurrence fires as usual. */
  thresholdMs: number;
  /** Most runs one handling of a schedule creates. */
  maxFires: number;
}

/** Occurrences of a timing; see `occurrences.ts`. */
export interface OccurrenceTimes {
  next(time: number): number | null;
  latest(time: number, count: number): number[];
}

/** Misfired occurrences found while planning. */
export interface MissedOccurrences {
  /** How many occurrences were later than the threshold; a lower bound when `countIsLowerBound`. */
  count: number;
  countIsLowerBound: boolean;
  /** Time of the first and the last misfired occurrence. */
  first: number;
  last: number;
}

/** What one handling of a due schedule does. */
export interface FirePlan {
  /** Occurrences that get a run, oldest first. */
  fire: number[];
  /** Misfired occurrences, or null when every handled occurrence was on time. */
  missed: MissedOccurrences | null;
  /** Latest handled occurrence: the schedule's new `lastFireAt`. */
  lastFireAt: number;
  /** The schedule's new `nextFireAt`; it may already be due when on-time runs were capped. */
  nextFireAt: number | null;
}

/** Most misfired occurrences counted one by one; past it the count is a lower bound. */
export const MAX_COUNTED_OCCURRENCES = 1_000;

/**
 * Plans the handling of a schedule whose stored next fire time `firstDue` has been reached at
 * `now` (both epoch ms on the storage clock).
 *
 * Without a misfire, the due occurrences fire oldest first, at most `maxFires` of them, and the
 * next fire time is the occurrence after the last one fired, so a capped backlog continues in
 * the next handling instead of being dropped. After a misfire the policy applies to every due
 * occurrence and the next fire time is the first occurrence after `now`.
 */
export function planFire(
  times: OccurrenceTimes,
  firstDue: number,
  now: number,
  settings: MisfireSettings,
): FirePlan {
  if (firstDue > now) return { fire: [], missed: null, lastFireAt: firstDue, nextFireAt: firstDue };

  const cutoff = now - settings.thresholdMs;
  if (firstDue >= cutoff) {
    const fire = [firstDue];
    let next = times.next(firstDue);
    while (next !== null && next <= now && fire.length < settings.maxFires) {
      fire.push(next);
      next = times.next(next);
    }
    return { fire, missed: null, lastFireAt: fire[fire.length - 1]!, nextFireAt: next };
  }

  // The latest due occurrences, capped at maxFires. `firstDue` itself is due even if the
  // timing no longer produces it, because the timing changed after it was stored.
  const recent = times.latest(now, settings.maxFires).filter((time) => time > firstDue);
  const due = [firstDue, ...recent].slice(-settings.maxFires);
  const lastFireAt = due[due.length - 1]!;
  let fire: number[];
  if (settings.policy === 'skip') fire = due.filter((time) => time >= cutoff);
  else if (settings.policy === 'fire-once') fire = [lastFireAt];
  else fire = due;
  return {
    fire,
    missed: describeMissed(times, firstDue, cutoff),
    lastFireAt,
    nextFireAt: times.next(now),
  };
}

/** Counts and bounds the misfired occurrences, those in [firstDue, cutoff). */
function describeMissed(
  times: OccurrenceTimes,
  firstDue: number,
  cutoff: number,
): MissedOccurrences {
  let count = 1;
  let time = firstDue;
  let next = times.next(time);
  while (next !== null && next < cutoff && count < MAX_COUNTED_OCCURRENCES) {
    count++;
    time = next;
    next = times.next(time);
  }
  const countIsLowerBound = next !== null && next < cutoff;
  const last = countIsLowerBound ? times.latest(cutoff - 1, 1)[0] : time;
  return {
    count,
    countIsLowerBound,
    first: firstDue,
    last: last !== undefined && last > firstDue ? last : firstDue,
  };
}
