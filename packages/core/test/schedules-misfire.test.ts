import { describe, expect, it } from 'vitest';
import { type MisfireSettings, planFire } from '../src/schedules/misfire.js';
import { checkTiming, intervalOccurrences, occurrencesOf } from '../src/schedules/occurrences.js';

const T = Date.parse('2024-01-01T00:00:00Z');
const SECOND = 1_000;
const MINUTE = 60_000;
const everyMinute = intervalOccurrences(MINUTE);
const everySecond = intervalOccurrences(SECOND);

function settings(overrides: Partial<MisfireSettings> = {}): MisfireSettings {
  return { policy: 'fire-once', thresholdMs: MINUTE, maxFires: 100, ...overrides };
}

describe('planFire without a misfire', () => {
  it('fires a due occurrence', () => {
    expect(planFire(everyMinute, T, T + 500, settings())).toEqual({
      fire: [T],
      missed: null,
      lastFireAt: T,
      nextFireAt: T + MINUTE,
    });
  });

  it('fires a late occurrence within the threshold', () => {
    const plan = planFire(everyMinute, T, T + 59 * SECOND, settings({ policy: 'skip' }));
    expect(plan.fire).toEqual([T]);
    expect(plan.missed).toBeNull();
  });

  it('fires every on-time occurrence', () => {
    const plan = planFire(everySecond, T, T + 3_500, settings());
    expect(plan.fire).toEqual([T, T + 1_000, T + 2_000, T + 3_000]);
    expect(plan.nextFireAt).toBe(T + 4_000);
  });

  it('continues a capped on-time backlog', () => {
    const plan = planFire(everySecond, T, T + 10_500, settings({ maxFires: 4 }));
    expect(plan.fire).toEqual([T, T + 1_000, T + 2_000, T + 3_000]);
    expect(plan.lastFireAt).toBe(T + 3_000);
    // Already due: the next handling fires the rest of the backlog.
    expect(plan.nextFireAt).toBe(T + 4_000);
  });

  it('does nothing before the fire time', () => {
    expect(planFire(everyMinute, T + MINUTE, T, settings())).toEqual({
      fire: [],
      missed: null,
      lastFireAt: T + MINUTE,
      nextFireAt: T + MINUTE,
    });
  });
});

describe('planFire after downtime', () => {
  // Stored next fire time T; the scheduler comes back 10.5 minutes later. Occurrences T to
  // T+9min are more than a minute late; T+10min is on time.
  const now = T + 10 * MINUTE + 30 * SECOND;
  const missed = { count: 10, countIsLowerBound: false, first: T, last: T + 9 * MINUTE };

  it('fire-once creates one run for the latest occurrence', () => {
    expect(planFire(everyMinute, T, now, settings({ policy: 'fire-once' }))).toEqual({
      fire: [T + 10 * MINUTE],
      missed,
      lastFireAt: T + 10 * MINUTE,
      nextFireAt: T + 11 * MINUTE,
    });
  });

  it('skip fires only the on-time occurrence', () => {
    const plan = planFire(everyMinute, T, now, settings({ policy: 'skip' }));
    expect(plan.fire).toEqual([T + 10 * MINUTE]);
    expect(plan.missed).toEqual(missed);
    expect(plan.nextFireAt).toBe(T + 11 * MINUTE);
  });

  it('skip fires nothing when every occurrence misfired', () => {
    const plan = planFire(everyMinute, T, now, settings({ policy: 'skip', thresholdMs: 10_000 }));
    expect(plan.fire).toEqual([]);
    expect(plan.missed).toEqual({
      count: 11,
      countIsLowerBound: false,
      first: T,
      last: T + 10 * MINUTE,
    });
    expect(plan.lastFireAt).toBe(T + 10 * MINUTE);
    expect(plan.nextFireAt).toBe(T + 11 * MINUTE);
  });

  it('fire-all fires every due occurrence', () => {
    const plan = planFire(everyMinute, T, now, settings({ policy: 'fire-all' }));
    expect(plan.fire).toEqual(Array.from({ length: 11 }, (_, index) => T + index * MINUTE));
    expect(plan.missed).toEqual(missed);
  });

  it('fire-all keeps the latest maxFires', () => {
    const plan = planFire(everyMinute, T, now, settings({ policy: 'fire-all', maxFires: 5 }));
    expect(plan.fire).toEqual([6, 7, 8, 9, 10].map((minutes) => T + minutes * MINUTE));
    expect(plan.missed!.count).toBe(10);
  });

  it('zero threshold makes any lateness a misfire', () => {
    const plan = planFire(everyMinute, T, T + 1, settings({ policy: 'skip', thresholdMs: 0 }));
    expect(plan.fire).toEqual([]);
    expect(plan.missed).toEqual({ count: 1, countIsLowerBound: false, first: T, last: T });
  });

  it('counts up to 1,000 misfired occurrences', () => {
    const long = T + 5_000 * SECOND;
    const plan = planFire(everySecond, T, long, settings({ thresholdMs: SECOND }));
    expect(plan.missed).toEqual({
      count: 1_000,
      countIsLowerBound: true,
      first: T,
      last: long - 2 * SECOND,
    });
    expect(plan.fire).toEqual([long]);
    expect(plan.nextFireAt).toBe(long + SECOND);
  });

  it('keeps a stored fire time the timing no longer produces', () => {
    const plan = planFire(everyMinute, T + 123, now, settings({ policy: 'fire-all' }));
    expect(plan.fire[0]).toBe(T + 123);
    expect(plan.fire.slice(1)).toEqual(
      Array.from({ length: 10 }, (_, index) => T + (index + 1) * MINUTE),
    );
    expect(plan.missed!.first).toBe(T + 123);
  });

  it('follows cron occurrences across a DST change', () => {
    // 01:30 in New York fires once on 2024-11-03, the day 01:00-02:00 repeats.
    const source = occurrencesOf(checkTiming({ cron: '30 1 * * *', timezone: 'America/New_York' }));
    const plan = planFire(
      source,
      Date.parse('2024-11-03T05:30:00Z'),
      Date.parse('2024-11-05T12:00:00Z'),
      settings({ policy: 'fire-all' }),
    );
    expect(plan.fire.map((time) => new Date(time).toISOString())).toEqual([
      '2024-11-03T05:30:00.000Z',
      '2024-11-04T06:30:00.000Z',
      '2024-11-05T06:30:00.000Z',
    ]);
    expect(plan.missed!.count).toBe(3);
    expect(new Date(plan.nextFireAt!).toISOString()).toBe('2024-11-06T06:30:00.000Z');
  });
});
