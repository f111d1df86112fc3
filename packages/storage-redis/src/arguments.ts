import {
  type EventQuery,
  InvalidOptionError,
  type PageRequest,
  type RunFilter,
  type ScheduleUpsert,
} from '@zapjobs/core/storage';
import { ABSENT, optional } from './codec.js';

// Script arguments for the read and admin operations, in the order each script reads them.

/** Filter arguments of runs-list.lua (after the page) and runs-count.lua. */
export function runFilterArgs(filter: RunFilter): string[] {
  return [
    optional(filter.queue),
    optional(filter.job),
    optional(filter.groupId),
    optional(filter.tenantId),
    optional(filter.partitionKey),
    ...(filter.states ?? []),
  ];
}

/** The form of every run id: core creates them as lowercase UUIDs. */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function listRunsArgs(filter: RunFilter, page: PageRequest): string[] {
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > 1000) {
    throw new InvalidOptionError('page.limit', page.limit, 'an integer from 1 to 1000');
  }
  // A page's nextCursor is the id of its last run, so any other string was not handed out.
  if (page.cursor !== undefined && !RUN_ID.test(page.cursor)) {
    throw new InvalidOptionError('cursor', page.cursor, 'the nextCursor of a previous page');
  }
  const order = page.order ?? 'desc';
  return [String(page.limit), optional(page.cursor), order, ...runFilterArgs(filter)];
}

export function listEventsArgs(query: EventQuery): string[] {
  if (!Number.isInteger(query.limit) || query.limit < 1) {
    throw new InvalidOptionError('query.limit', query.limit, 'a positive integer');
  }
  if (query.cursor !== undefined && !/^[ps]\d+$/.test(query.cursor)) {
    throw new InvalidOptionError('query.cursor', query.cursor, 'a cursor returned by listEvents');
  }
  return [
    String(query.limit),
    optional(query.cursor),
    optional(query.runId),
    optional(query.groupId),
    optional(query.since),
    optional(query.until),
    optional(query.tenantId),
    ...(query.types ?? []),
  ];
}

export function upsertScheduleArgs(schedule: ScheduleUpsert): string[] {
  let paused = ABSENT;
  if (schedule.paused !== undefined) paused = schedule.paused ? '1' : '0';
  return [
    schedule.name,
    schedule.job,
    schedule.input,
    optional(schedule.cron),
    optional(schedule.intervalMs),
    optional(schedule.timezone),
    schedule.options,
    optional(schedule.tenantId),
    optional(schedule.nextFireAt),
    schedule.resetNextFireAt ? '1' : '0',
    paused,
  ];
}
