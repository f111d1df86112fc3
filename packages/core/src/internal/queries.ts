/**
 * Checks of the admin query options, turned into the storage contract's filter shapes.
 */
import { InvalidOptionError } from '../errors.js';
import type { ListEventsOptions, ListRunsOptions } from '../run.js';
import {
  type EventQuery,
  type PageRequest,
  RUN_STATES,
  type RunFilter,
  type RunState,
} from '../storage/contract.js';
import { checkTenantId } from '../tenancy/tenant-id.js';
import {
  assertKnownKeys,
  assertPlainObject,
  checkInteger,
  checkName,
  checkOneOf,
} from './check.js';

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const FILTER_KEYS = ['states', 'queue', 'job', 'groupId', 'tenantId', 'partitionKey'];
const PAGE_KEYS = ['limit', 'cursor', 'order'];

export function buildRunFilter(options: ListRunsOptions, paged: boolean): RunFilter {
  assertPlainObject('options', options);
  const allowed = paged
    ? [...FILTER_KEYS, ...PAGE_KEYS]
    : FILTER_KEYS.filter((k) => k !== 'states');
  assertKnownKeys(options, allowed, '', paged ? ' of listRuns' : ' of countRuns');

  const filter: RunFilter = {};
  if (options.states !== undefined) filter.states = checkStates(options.states);
  if (options.queue !== undefined) filter.queue = checkName('queue', options.queue);
  if (options.job !== undefined) filter.job = checkName('job', options.job);
  if (options.groupId !== undefined) filter.groupId = checkName('groupId', options.groupId);
  if (options.tenantId !== undefined) {
    filter.tenantId = checkTenantId('tenantId', options.tenantId);
  }
  if (options.partitionKey !== undefined) {
    filter.partitionKey = checkName('partitionKey', options.partitionKey);
  }
  return filter;
}

export function buildRunPage(options: ListRunsOptions): PageRequest {
  const page: PageRequest = {
    limit:
      options.limit === undefined
        ? DEFAULT_PAGE_SIZE
        : checkInteger('limit', options.limit, 1, MAX_PAGE_SIZE),
  };
  if (options.cursor !== undefined) page.cursor = checkCursor(options.cursor);
  if (options.order !== undefined)
    page.order = checkOneOf('order', options.order, ['asc', 'desc'] as const);
  return page;
}

export function buildEventQuery(options: ListEventsOptions): EventQuery {
  assertPlainObject('options', options);
  assertKnownKeys(
    options,
    ['runId', 'groupId', 'types', 'since', 'until', 'tenantId', 'limit', 'cursor'],
    '',
    ' of listEvents',
  );
  const query: EventQuery = {
    limit:
      options.limit === undefined
        ? DEFAULT_PAGE_SIZE
        : checkInteger('limit', options.limit, 1, MAX_PAGE_SIZE),
  };
  if (options.runId !== undefined) query.runId = checkName('runId', options.runId);
  if (options.groupId !== undefined) query.groupId = checkName('groupId', options.groupId);
  if (options.types !== undefined) {
    if (!Array.isArray(options.types) || options.types.length === 0) {
      throw new InvalidOptionError('types', options.types, 'a non-empty array of event types');
    }
    options.types.forEach((type, index) => {
      checkName(`types[${index}]`, type);
    });
    query.types = options.types;
  }
  if (options.since !== undefined) query.since = checkTime('since', options.since);
  if (options.until !== undefined) query.until = checkTime('until', options.until);
  if (options.tenantId !== undefined) {
    query.tenantId = checkTenantId('tenantId', options.tenantId);
  }
  if (options.cursor !== undefined) query.cursor = checkCursor(options.cursor);
  return query;
}

function checkStates(value: unknown): RunState[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidOptionError('states', value, `a non-empty array of ${RUN_STATES.join(', ')}`);
  }
  return value.map((state, index) => checkOneOf(`states[${index}]`, state, RUN_STATES));
}

function checkTime(name: string, value: unknown): number {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidOptionError(name, value, 'a valid Date');
  }
  return value.getTime();
}

function checkCursor(value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidOptionError('cursor', value, 'the nextCursor string of a previous page');
  }
  return value;
}
