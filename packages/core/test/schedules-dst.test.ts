/**
 * The daylight-saving policy of cron schedules, in four zones, under several host time zones:
 *
 * - A fixed-time expression (no `*` or step in second, minute and hour) whose local time falls
 *   in the spring-forward gap fires once, at the first instant after the gap.
 * - A fixed-time expression whose local time occurs twice in the fall-back hour fires once, at
 *   the first occurrence.
 * - Other expressions follow elapsed time: local times in the gap do not exist and are skipped,
 *   and times in the repeated hour fire on both occurrences.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { checkTiming, nextOccurrences, occurrencesOf } from '../src/schedules/occurrences.js';

interface DstCase {
  name: string;
  cron: string;
  timezone: string | null;
  after: string;
  expected: string[];
}

const CASES: DstCase[] = [
  // New York: 2024-03-10 02:00 EST becomes 03:00 EDT (07:00Z); 2024-11-03 02:00 EDT becomes
  // 01:00 EST (06:00Z).
  {
    name: 'New York gap time fires at 03:00 EDT',
    cron: '30 2 * * *',
    timezone: 'America/New_York',
    after: '2024-03-09T12:00:00Z',
    expected: ['2024-03-10T07:00:00Z', '2024-03-11T06:30:00Z'],
  },
  {
    name: 'New York two gap times fire once',
    cron: '0,30 2 * * *',
    timezone: 'America/New_York',
    after: '2024-03-09T12:00:00Z',
    expected: ['2024-03-10T07:00:00Z', '2024-03-11T06:00:00Z', '2024-03-11T06:30:00Z'],
  },
  {
    name: 'New York repeated time fires once, in EDT',
    cron: '30 1 * * *',
    timezone: 'America/New_York',
    after: '2024-11-02T12:00:00Z',
    expected: ['2024-11-03T05:30:00Z', '2024-11-04T06:30:00Z'],
  },
  {
    name: 'New York every 30 minutes across spring-forward',
    cron: '*/30 * * * *',
    timezone: 'America/New_York',
    after: '2024-03-10T06:15:00Z',
    expected: ['2024-03-10T06:30:00Z', '2024-03-10T07:00:00Z', '2024-03-10T07:30:00Z'],
  },
  {
    name: 'New York every 30 minutes across fall-back',
    cron: '*/30 * * * *',
    timezone: 'America/New_York',
    after: '2024-11-03T04:45:00Z',
    expected: [
      '2024-11-03T05:00:00Z',
      '2024-11-03T05:30:00Z',
      '2024-11-03T06:00:00Z',
      '2024-11-03T06:30:00Z',
      '2024-11-03T07:00:00Z',
    ],
  },
  // London: 2024-03-31 01:00 GMT becomes 02:00 BST (01:00Z); 2024-10-27 02:00 BST becomes
  // 01:00 GMT (01:00Z).
  {
    name: 'London gap time fires at 02:00 BST',
    cron: '30 1 * * *',
    timezone: 'Europe/London',
    after: '2024-03-30T12:00:00Z',
    expected: ['2024-03-31T01:00:00Z', '2024-04-01T00:30:00Z'],
  },
  {
    name: 'London repeated time fires once, in BST',
    cron: '30 1 * * *',
    timezone: 'Europe/London',
    after: '2024-10-26T12:00:00Z',
    expected: ['2024-10-27T00:30:00Z', '2024-10-28T01:30:00Z'],
  },
  {
    name: 'London every 20 minutes across fall-back',
    cron: '*/20 * * * *',
    timezone: 'Europe/London',
    after: '2024-10-27T00:10:00Z',
    expected: [
      '2024-10-27T00:20:00Z',
      '2024-10-27T00:40:00Z',
      '2024-10-27T01:00:00Z',
      '2024-10-27T01:20:00Z',
    ],
  },
  {
    name: 'London every 20 minutes across spring-forward',
    cron: '*/20 * * * *',
    timezone: 'Europe/London',
    after: '2024-03-31T00:30:00Z',
    expected: ['2024-03-31T00:40:00Z', '2024-03-31T01:00:00Z', '2024-03-31T01:20:00Z'],
  },
  // Sydney: 2024-10-06 02:00 AEST becomes 03:00 AEDT (2024-10-05T16:00Z); 2024-04-07
  // 03:00 AEDT becomes 02:00 AEST (2024-04-06T16:00Z).
  {
    name: 'Sydney gap time fires at 03:00 AEDT',
    cron: '30 2 * * *',
    timezone: 'Australia/Sydney',
    after: '2024-10-05T00:00:00Z',
    expected: ['2024-10-05T16:00:00Z', '2024-10-06T15:30:00Z'],
  },
  {
    name: 'Sydney repeated time fires once, in AEDT',
    cron: '30 2 * * *',
    timezone: 'Australia/Sydney',
    after: '2024-04-06T00:00:00Z',
    expected: ['2024-04-06T15:30:00Z', '2024-04-07T16:30:00Z'],
  },
  {
    name: 'Sydney every 30 minutes across fall-back',
    cron: '*/30 * * * *',
    timezone: 'Australia/Sydney',
    after: '2024-04-06T15:15:00Z',
    expected: [
      '2024-04-06T15:30:00Z',
      '2024-04-06T16:00:00Z',
      '2024-04-06T16:30:00Z',
      '2024-04-06T17:00:00Z',
    ],
  },
  // São Paulo (daylight time until 2019): 2018-11-04 00:00 -03 became 01:00 -02 (03:00Z);
  // 2019-02-17 00:00 -02 became 2019-02-16 23:00 -03 (02:00Z).
  {
    name: 'Sao Paulo midnight in the gap fires at 01:00',
    cron: '0 0 * * *',
    timezone: 'America/Sao_Paulo',
    after: '2018-11-03T12:00:00Z',
    expected: ['2018-11-04T03:00:00Z', '2018-11-05T02:00:00Z'],
  },
  {
    name: 'Sao Paulo repeated 23:30 fires once',
    cron: '30 23 * * *',
    timezone: 'America/Sao_Paulo',
    after: '2019-02-15T12:00:00Z',
    expected: ['2019-02-16T01:30:00Z', '2019-02-17T01:30:00Z', '2019-02-18T02:30:00Z'],
  },
  {
    name: 'Sao Paulo every 30 minutes across spring-forward',
    cron: '*/30 * * * *',
    timezone: 'America/Sao_Paulo',
    after: '2018-11-04T02:15:00Z',
    expected: ['2018-11-04T02:30:00Z', '2018-11-04T03:00:00Z', '2018-11-04T03:30:00Z'],
  },
  {
    name: 'Sao Paulo every 30 minutes across fall-back',
    cron: '*/30 * * * *',
    timezone: 'America/Sao_Paulo',
    after: '2019-02-17T01:15:00Z',
    expected: [
      '2019-02-17T01:30:00Z',
      '2019-02-17T02:00:00Z',
      '2019-02-17T02:30:00Z',
      '2019-02-17T03:00:00Z',
    ],
  },
  // Without a time zone, expressions are read in UTC whatever the host's zone.
  {
    name: 'UTC default ignores the host zone',
    cron: '30 2 * * *',
    timezone: null,
    after: '2024-03-09T12:00:00Z',
    expected: ['2024-03-10T02:30:00Z', '2024-03-11T02:30:00Z', '2024-03-12T02:30:00Z'],
  },
  {
    name: 'UTC six fields ignore the host zone',
    cron: '0 0 * * * *',
    timezone: null,
    after: '2024-11-03T04:30:00Z',
    expected: ['2024-11-03T05:00:00Z', '2024-11-03T06:00:00Z', '2024-11-03T07:00:00Z'],
  },
];

function occurrences(testCase: DstCase): string[] {
  const timing = checkTiming(
    testCase.timezone === null
      ? { cron: testCase.cron }
      : { cron: testCase.cron, timezone: testCase.timezone },
  );
  const times = nextOccurrences(
    occurrencesOf(timing),
    Date.parse(testCase.after),
    testCase.expected.length,
  );
  return times.map((time) => new Date(time).toISOString().replace('.000Z', 'Z'));
}

/** Host time zones the table runs under; Chatham and Lord Howe have odd offsets and DST. */
const HOST_ZONES = ['UTC', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham', 'Europe/Berlin'];
/** `getTimezoneOffset()` on 2024-01-01 in each host zone, to prove the zone took effect. */
const HOST_OFFSETS: Record<string, number> = {
  UTC: 0,
  'America/New_York': 300,
  'Asia/Kolkata': -330,
  'Pacific/Chatham': -825,
  'Europe/Berlin': -60,
};

describe('daylight-saving policy', () => {
  const original = process.env.TZ;
  afterAll(() => {
    if (original === undefined) delete process.env.TZ;
    else process.env.TZ = original;
  });

  for (const testCase of CASES) {
    it(testCase.name, () => {
      expect(occurrences(testCase)).toEqual(testCase.expected);
    });
  }

  it('same results under several host zones', () => {
    for (const zone of HOST_ZONES) {
      // Node applies a TZ assigned at runtime to Date and Intl at once.
      process.env.TZ = zone;
      expect(new Date(Date.UTC(2024, 0, 1)).getTimezoneOffset()).toBe(HOST_OFFSETS[zone]);
      for (const testCase of CASES) {
        expect({ zone, name: testCase.name, times: occurrences(testCase) }).toEqual({
          zone,
          name: testCase.name,
          times: testCase.expected,
        });
      }
    }
  });

  it.runIf(process.env.ZAPJOBS_DST_CHILD === undefined)(
    'same results in a process started with TZ set',
    async () => {
      const require = createRequire(import.meta.url);
      const vitest = join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
      const file = fileURLToPath(import.meta.url);
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [vitest, 'run', file, '--reporter=dot'],
        {
          cwd: join(dirname(file), '..'),
          env: {
            ...process.env,
            TZ: 'Australia/Lord_Howe',
            ZAPJOBS_DST_CHILD: '1',
            NO_COLOR: '1',
            FORCE_COLOR: '0',
          },
        },
      );
      // The child runs every test of this file except this one, which it skips.
      expect(stdout).toContain(`Tests  ${CASES.length + 1} passed | 1 skipped`);
      expect(stdout).not.toContain('failed');
    },
  );
});
