import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../src/errors.js';
import { checkTimeZone, compileCron } from '../src/schedules/cron.js';
import {
  checkTiming,
  intervalOccurrences,
  nextOccurrences,
  occurrencesOf,
} from '../src/schedules/occurrences.js';

const FEB_1_2024 = Date.parse('2024-02-01T00:00:00Z');

function next(cron: string, count: number, after = FEB_1_2024, timezone: string | null = null) {
  const timing = checkTiming(timezone === null ? { cron } : { cron, timezone });
  return nextOccurrences(occurrencesOf(timing), after, count).map((time) =>
    new Date(time).toISOString(),
  );
}

function rejection(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return (error as Error).message;
  }
  throw new Error('expected an InvalidOptionError');
}

describe('cron syntax', () => {
  it('five fields start at the minute', () => {
    expect(next('*/15 * * * *', 3)).toEqual([
      '2024-02-01T00:15:00.000Z',
      '2024-02-01T00:30:00.000Z',
      '2024-02-01T00:45:00.000Z',
    ]);
  });

  it('six fields start at the second', () => {
    expect(next('*/20 * * * * *', 3)).toEqual([
      '2024-02-01T00:00:20.000Z',
      '2024-02-01T00:00:40.000Z',
      '2024-02-01T00:01:00.000Z',
    ]);
  });

  it('day-of-week numbers follow Unix cron', () => {
    // 2024-02-04 is a Sunday, 2024-02-05 a Monday.
    expect(next('0 9 * * 0', 1)).toEqual(['2024-02-04T09:00:00.000Z']);
    expect(next('0 9 * * 7', 1)).toEqual(['2024-02-04T09:00:00.000Z']);
    expect(next('0 9 * * 1', 1)).toEqual(['2024-02-05T09:00:00.000Z']);
    expect(next('0 9 * * MON', 1)).toEqual(['2024-02-05T09:00:00.000Z']);
  });

  it('both day fields match either day', () => {
    expect(next('0 0 13 * FRI', 4, Date.parse('2024-10-01T00:00:00Z'))).toEqual([
      '2024-10-04T00:00:00.000Z',
      '2024-10-11T00:00:00.000Z',
      '2024-10-13T00:00:00.000Z',
      '2024-10-18T00:00:00.000Z',
    ]);
  });

  it('nicknames expand', () => {
    expect(next('@hourly', 1)).toEqual(['2024-02-01T01:00:00.000Z']);
    expect(next('@daily', 1)).toEqual(['2024-02-02T00:00:00.000Z']);
    expect(next('@weekly', 1)).toEqual(['2024-02-04T00:00:00.000Z']);
  });

  it('whitespace is collapsed', () => {
    expect(checkTiming({ cron: '  0   9 * *  1 ' }).cron).toBe('0 9 * * 1');
  });

  it('L means the last day of the month', () => {
    expect(next('0 0 L * *', 2)).toEqual(['2024-02-29T00:00:00.000Z', '2024-03-31T00:00:00.000Z']);
  });

  it('5L means the last Friday', () => {
    expect(next('0 0 * * 5L', 2)).toEqual(['2024-02-23T00:00:00.000Z', '2024-03-29T00:00:00.000Z']);
  });

  it('W means the nearest weekday', () => {
    // 2024-06-15 is a Saturday: the nearest weekday is Friday the 14th.
    expect(next('0 0 15W * *', 1, Date.parse('2024-06-01T00:00:00Z'))).toEqual([
      '2024-06-14T00:00:00.000Z',
    ]);
    // 2024-03-31 is a Sunday: the last weekday of March is Friday the 29th.
    expect(next('0 0 LW * *', 1, Date.parse('2024-03-01T00:00:00Z'))).toEqual([
      '2024-03-29T00:00:00.000Z',
    ]);
  });

  it('# means the nth weekday', () => {
    expect(next('0 0 * * FRI#2', 2)).toEqual([
      '2024-02-09T00:00:00.000Z',
      '2024-03-08T00:00:00.000Z',
    ]);
  });

  it('? in a day field means *', () => {
    expect(next('0 9 ? * MON', 1)).toEqual(['2024-02-05T09:00:00.000Z']);
    expect(next('0 0 9 1 * ?', 2)).toEqual([
      '2024-02-01T09:00:00.000Z',
      '2024-03-01T09:00:00.000Z',
    ]);
  });
});

describe('cron rejection', () => {
  it('names the expression and the syntax', () => {
    const message = rejection(() => checkTiming({ cron: 'every minute' }));
    expect(message).toContain('Invalid option cron: "every minute".');
    expect(message).toContain('5 fields (minute hour day-of-month month day-of-week)');
  });

  it('rejects a Quartz year field', () => {
    expect(rejection(() => checkTiming({ cron: '0 0 12 * * MON 2025' }))).toContain(
      'a seventh (year) field, as in Quartz, is not supported',
    );
  });

  it('rejects ? outside the day fields', () => {
    expect(rejection(() => checkTiming({ cron: '? * * * *' }))).toContain(
      '"?" is allowed only in day-of-month and day-of-week',
    );
  });

  it('rejects Quartz weekday numbers', () => {
    expect(rejection(() => checkTiming({ cron: '0 0 12 ? * 2' }))).toContain(
      'this looks like a Quartz expression, where day-of-week 1 is Sunday',
    );
  });

  it('rejects L-3 with the croner reason', () => {
    expect(rejection(() => checkTiming({ cron: '0 0 L-3 * *' }))).toContain(
      'croner reports: Syntax error, L has to be a value of its own in day-of-month',
    );
  });

  it('rejects a lone L in day-of-week', () => {
    expect(rejection(() => checkTiming({ cron: '0 0 * * L' }))).toContain('croner reports:');
  });

  it('rejects a step without * or range', () => {
    expect(rejection(() => checkTiming({ cron: '0/5 * * * *' }))).toContain(
      "stepping with numeric prefix ('0/5') is not allowed",
    );
  });

  it('rejects out-of-range values', () => {
    expect(rejection(() => checkTiming({ cron: '60 * * * *' }))).toContain('croner reports:');
    expect(rejection(() => checkTiming({ cron: '0 24 * * *' }))).toContain('croner reports:');
  });

  it('rejects an expression that never fires', () => {
    expect(rejection(() => checkTiming({ cron: '0 0 30 2 *' }))).toContain('never fires');
  });

  it('rejects @reboot and unknown nicknames', () => {
    expect(rejection(() => checkTiming({ cron: '@reboot' }))).toContain('one of the nicknames');
    expect(rejection(() => checkTiming({ cron: '@often' }))).toContain('one of the nicknames');
  });

  it('rejects a non-string', () => {
    expect(rejection(() => compileCron('cron', 5, null))).toContain('Invalid option cron: 5.');
  });
});

describe('timing options', () => {
  it('requires cron or everyMs', () => {
    expect(rejection(() => checkTiming({}))).toContain('or set everyMs to an interval');
  });

  it('rejects both cron and everyMs', () => {
    expect(rejection(() => checkTiming({ cron: '* * * * *', everyMs: 1_000 }))).toContain(
      'either a cron expression or an interval',
    );
  });

  it('rejects a time zone with everyMs', () => {
    expect(rejection(() => checkTiming({ everyMs: 60_000, timezone: 'UTC' }))).toContain(
      'no timezone with everyMs',
    );
  });

  it('checks the interval range', () => {
    expect(rejection(() => checkTiming({ everyMs: 999 }))).toContain(
      'Invalid option everyMs: 999.',
    );
    expect(rejection(() => checkTiming({ everyMs: 1.5e3 + 0.5 }))).toContain('an integer');
    expect(checkTiming({ everyMs: 1_000 })).toEqual({ cron: null, everyMs: 1_000, timezone: null });
  });

  it('rejects unknown time zones and offsets', () => {
    expect(rejection(() => checkTimeZone('timezone', 'Mars/Olympus'))).toContain(
      'Invalid option timezone: "Mars/Olympus". Expected an IANA time zone name',
    );
    expect(rejection(() => checkTimeZone('timezone', '+05:00'))).toContain('IANA time zone');
    expect(rejection(() => checkTimeZone('timezone', ''))).toContain('IANA time zone');
    expect(checkTimeZone('timezone', 'Asia/Kolkata')).toBe('Asia/Kolkata');
  });
});

describe('interval occurrences', () => {
  const hourly = intervalOccurrences(3_600_000);

  it('are multiples of the interval since the epoch', () => {
    expect(hourly.next(Date.parse('2024-02-01T10:20:00Z'))).toBe(
      Date.parse('2024-02-01T11:00:00Z'),
    );
    expect(hourly.next(Date.parse('2024-02-01T11:00:00Z'))).toBe(
      Date.parse('2024-02-01T12:00:00Z'),
    );
  });

  it('latest includes an occurrence exactly at the time', () => {
    expect(hourly.latest(Date.parse('2024-02-01T11:00:00Z'), 2)).toEqual([
      Date.parse('2024-02-01T10:00:00Z'),
      Date.parse('2024-02-01T11:00:00Z'),
    ]);
    expect(hourly.latest(Date.parse('2024-02-01T11:00:00Z'), 0)).toEqual([]);
  });
});
