/**
 * Cron expressions and time zones of schedules: validation with errors that name the value and
 * the fix, and the croner pattern that computes occurrences.
 *
 * Syntax (croner 11): 5 fields `minute hour day-of-month month day-of-week`, or 6 fields with
 * `second` first. Day-of-week numbers follow Unix cron: 0 or 7 is Sunday, 1 is Monday. Names
 * (`MON`, `JAN`) and the nicknames `@hourly`, `@daily`, `@weekly`, `@monthly` and `@yearly`
 * work. From the Quartz syntax, croner supports `L` (last day of the month, or `5L` for the last
 * Friday), `W` (`15W`: the weekday nearest the 15th, `LW`: the last weekday) and `#` (`FRI#2`:
 * the second Friday). `?` means the same as `*` and is accepted in the two day fields only.
 * Upsert rejects the other Quartz forms: a year field, `L-3`, `1/5` steps without `*` or a
 * range, and a lone `L` in day-of-week. It also rejects numeric weekdays next to `?`, because
 * Quartz numbers Sunday 1, so a Quartz expression would silently run one day late.
 */
import { Cron } from 'croner';
import { InvalidOptionError } from '../errors.js';

/** Maximum length of a cron expression, in characters. */
const MAX_CRON_LENGTH = 255;

const NICKNAMES = new Set([
  '@yearly',
  '@annually',
  '@monthly',
  '@weekly',
  '@daily',
  '@midnight',
  '@hourly',
]);

const SYNTAX_HELP =
  'a cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6 fields ' +
  '(second first), such as "*/15 * * * *" or "0 30 9 * * MON-FRI"';

/** A validated cron expression with its time zone, ready to compute occurrences. */
export interface CompiledCron {
  /** The expression with runs of whitespace collapsed to one space. */
  expression: string;
  /** IANA time zone the fields are read in; `UTC` when none was given. */
  timezone: string;
  pattern: Cron;
}

/**
 * Checks a time zone name and returns it. Accepts every IANA name the runtime's Intl supports,
 * such as `America/New_York` or `UTC`; rejects UTC offsets, which have no daylight-saving rules.
 */
export function checkTimeZone(option: string, value: unknown): string {
  const expected = 'an IANA time zone name such as "America/New_York", "Europe/London" or "UTC"';
  if (typeof value !== 'string' || value.trim() === '' || /^[+-]/.test(value)) {
    throw new InvalidOptionError(option, value, expected);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
  } catch {
    throw new InvalidOptionError(option, value, `${expected}; this name is unknown`);
  }
  return value;
}

/**
 * Checks a cron expression and compiles it for a time zone. Throws InvalidOptionError naming
 * the expression, what is wrong with it and the supported syntax.
 */
export function compileCron(option: string, value: unknown, timezone: string | null): CompiledCron {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_CRON_LENGTH) {
    throw new InvalidOptionError(option, value, `${SYNTAX_HELP}, at most 255 characters`);
  }
  const expression = value.trim().split(/\s+/).join(' ');
  const zone = timezone ?? 'UTC';
  if (expression.startsWith('@')) {
    if (!NICKNAMES.has(expression.toLowerCase())) {
      const names = [...NICKNAMES].join(', ');
      throw new InvalidOptionError(
        option,
        value,
        `one of the nicknames ${names}, or ${SYNTAX_HELP}`,
      );
    }
  } else {
    checkFields(option, value, expression.split(' '));
  }

  let pattern: Cron;
  try {
    pattern = new Cron(expression, {
      timezone: zone,
      mode: '5-or-6-parts',
      // Fixed-time expressions (no `*` or step in second, minute and hour) fire once on DST
      // days; the others follow elapsed time. See the README's daylight-saving section.
      fixedTimeRule: 'no-wildcard',
    });
  } catch (error) {
    throw new InvalidOptionError(option, value, `${SYNTAX_HELP}; ${cronerReason(error)}`);
  }

  const first = nextCronOccurrence(pattern, Date.UTC(2000, 0, 1));
  if (first === null) {
    throw new InvalidOptionError(
      option,
      value,
      `an expression that matches a real date; this one never fires (for example February 30)`,
    );
  }
  return { expression, timezone: zone, pattern };
}

/** First occurrence strictly after `time` (epoch ms), or null when there is none. */
export function nextCronOccurrence(pattern: Cron, time: number): number | null {
  return pattern.nextRun(new Date(time))?.getTime() ?? null;
}

/** Up to `count` latest occurrences at or before `time` (epoch ms), oldest first. */
export function previousCronOccurrences(pattern: Cron, time: number, count: number): number[] {
  // croner returns runs before the reference, so one ms later includes a run exactly at `time`.
  return pattern
    .previousRuns(count, new Date(time + 1))
    .map((date) => date.getTime())
    .reverse();
}

/** Rejects the Quartz forms croner would read differently from Quartz, before croner parses. */
function checkFields(option: string, value: string, fields: string[]): void {
  if (fields.length === 7) {
    throw new InvalidOptionError(
      option,
      value,
      `${SYNTAX_HELP}; a seventh (year) field, as in Quartz, is not supported, so remove it`,
    );
  }
  if (fields.length !== 5 && fields.length !== 6) {
    throw new InvalidOptionError(
      option,
      value,
      `${SYNTAX_HELP}; this expression has ${fields.length} field(s)`,
    );
  }

  const offset = fields.length === 6 ? 1 : 0;
  const dayOfMonth = offset + 2;
  const dayOfWeek = offset + 4;
  fields.forEach((field, index) => {
    if (field.includes('?') && index !== dayOfMonth && index !== dayOfWeek) {
      throw new InvalidOptionError(
        option,
        value,
        `${SYNTAX_HELP}; "?" is allowed only in day-of-month and day-of-week, where it means ` +
          `"*", so replace "${field}" with "*"`,
      );
    }
  });

  const usesQuestionMark = fields.some((field) => field.includes('?'));
  const weekdayNumbers = fields[dayOfWeek]!.replace(/#\d+/g, '');
  if (usesQuestionMark && /\d/.test(weekdayNumbers)) {
    throw new InvalidOptionError(
      option,
      value,
      `${SYNTAX_HELP}; this looks like a Quartz expression, where day-of-week 1 is Sunday, ` +
        `but ZapJobs reads 0 or 7 as Sunday and 1 as Monday, so write day names such as ` +
        `MON-FRI in "${fields[dayOfWeek]}"`,
    );
  }
}

function cronerReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `croner reports: ${message.replace(/^CronPattern: /, '')}`;
}
