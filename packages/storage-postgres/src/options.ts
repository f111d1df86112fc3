import type { Logger } from '@zapjobs/core';
import { assertKnownKeys, InvalidOptionError } from '@zapjobs/core/storage';
import type pg from 'pg';

/** Options of {@link PostgresStorage}. */
export interface PostgresStorageOptions {
  /**
   * Connection string such as `postgres://user:password@host:5432/database`. Ignored when
   * `pool` is given. Default: pg's defaults, which read the PGHOST, PGUSER, PGDATABASE, ...
   * environment variables.
   */
  connectionString?: string;
  /**
   * An existing pool to run every statement on, instead of a pool this storage creates. The
   * storage never ends it: `close()` leaves it open for its owner. The LISTEN connection is a
   * separate client opened with the pool's connection settings.
   */
  pool?: pg.Pool;
  /**
   * Schema that contains the tables and functions, created by `migrate()` when missing. Letters,
   * digits and underscores, starting with a letter or underscore, at most 55 characters.
   * Default `'zapjobs'`.
   */
  schema?: string;
  /** Maximum connections of the pool this storage creates. Ignored with `pool`. Default 10. */
  poolSize?: number;
  /**
   * Milliseconds to wait for a new connection before the call fails with a StorageError.
   * Ignored with `pool`. Default 10_000.
   */
  connectTimeoutMs?: number;
  /**
   * Milliseconds a statement may wait for its reply before it fails with a StorageError that
   * names the operation and this timeout. The connection is then closed rather than reused,
   * so calls do not wait on a connection that a network failure left silently dead. It applies
   * to the pool this storage creates and to the LISTEN connection. On a `pool` passed in, set
   * pg's `query_timeout` yourself. Default 60_000.
   */
  queryTimeoutMs?: number;
  /**
   * Milliseconds before the first attempt to reconnect a dropped LISTEN connection; each
   * failed attempt doubles the wait up to `listenReconnectMaxMs`. Default 100.
   */
  listenReconnectMinMs?: number;
  /**
   * Maximum wait between attempts to reconnect the LISTEN connection, in ms. Default 5_000, or
   * `listenReconnectMinMs` when that is larger.
   */
  listenReconnectMaxMs?: number;
  /** `application_name` of the connections this storage opens. Default `'zapjobs'`. */
  applicationName?: string;
  /**
   * Commits each claim with PostgreSQL's asynchronous commit, so its runs start without waiting
   * for the claim's WAL flush (0.6 to 0.7 ms sooner on the 2-core machine of bench/NOTES.md). A
   * claim is undone if the server crashes before the WAL writer has written it out, usually
   * within one `wal_writer_delay` (200 ms by default), or the machine before it is flushed
   * (within three). Recovery then returns its runs to their previous state, and each starts again
   * without that attempt being counted. A run can therefore run more often than `attempts`, and
   * concurrency and rate limits no longer count the first handler while it still runs. Ids of
   * events read before the crash can be reused. Each outcome is still stored once. Default false:
   * a claim waits for its flush, as every other write of the storage does.
   */
  asyncClaimCommit?: boolean;
  /**
   * Logger for pool errors, LISTEN reconnects and listener failures. Default: warnings and
   * errors on the console.
   */
  logger?: Logger;
}

/** Options after defaults were applied and every value was checked. */
export interface ResolvedOptions {
  connectionString: string | undefined;
  pool: pg.Pool | undefined;
  schema: string;
  poolSize: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  listenReconnectMinMs: number;
  listenReconnectMaxMs: number;
  applicationName: string;
  asyncClaimCommit: boolean;
  logger: Logger;
}

const OPTION_KEYS = [
  'connectionString',
  'pool',
  'schema',
  'poolSize',
  'connectTimeoutMs',
  'queryTimeoutMs',
  'listenReconnectMinMs',
  'listenReconnectMaxMs',
  'applicationName',
  'asyncClaimCommit',
  'logger',
] as const satisfies readonly (keyof PostgresStorageOptions)[];
// Fails to compile when an option is added to the interface but not to OPTION_KEYS.
const EVERY_OPTION_LISTED: Exclude<
  keyof PostgresStorageOptions,
  (typeof OPTION_KEYS)[number]
> extends never
  ? true
  : false = true;
void EVERY_OPTION_LISTED;

const SCHEMA_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,54}$/;

/** Applies defaults and rejects invalid values with an error that names the value and the fix. */
export function resolveOptions(options: PostgresStorageOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError('options', options, 'an object such as { connectionString }');
  }
  assertKnownKeys(options, OPTION_KEYS, '', ' of PostgresStorage');
  const { connectionString, pool } = options;
  if (connectionString !== undefined && typeof connectionString !== 'string') {
    throw new InvalidOptionError(
      'connectionString',
      connectionString,
      'a string such as "postgres://user@127.0.0.1:5432/app"',
    );
  }
  if (pool !== undefined && (typeof pool !== 'object' || typeof pool?.connect !== 'function')) {
    throw new InvalidOptionError('pool', pool, 'a pg.Pool instance');
  }
  if (pool !== undefined && connectionString !== undefined) {
    throw new InvalidOptionError(
      'connectionString',
      connectionString,
      'either connectionString or pool, not both',
    );
  }

  const schema = options.schema ?? 'zapjobs';
  if (typeof schema !== 'string' || !SCHEMA_PATTERN.test(schema)) {
    throw new InvalidOptionError(
      'schema',
      schema,
      'a schema name of letters, digits and underscores that starts with a letter or ' +
        'underscore and has at most 55 characters, such as "zapjobs"',
    );
  }

  const listenReconnectMinMs = positiveInteger(
    'listenReconnectMinMs',
    options.listenReconnectMinMs,
    100,
  );
  const listenReconnectMaxMs = positiveInteger(
    'listenReconnectMaxMs',
    options.listenReconnectMaxMs,
    Math.max(5_000, listenReconnectMinMs),
  );
  if (listenReconnectMaxMs < listenReconnectMinMs) {
    throw new InvalidOptionError(
      'listenReconnectMaxMs',
      listenReconnectMaxMs,
      `at least listenReconnectMinMs (${listenReconnectMinMs})`,
    );
  }

  const asyncClaimCommit = options.asyncClaimCommit ?? false;
  if (typeof asyncClaimCommit !== 'boolean') {
    throw new InvalidOptionError('asyncClaimCommit', asyncClaimCommit, 'true or false');
  }

  return {
    connectionString,
    pool,
    schema,
    poolSize: positiveInteger('poolSize', options.poolSize, 10),
    connectTimeoutMs: positiveInteger('connectTimeoutMs', options.connectTimeoutMs, 10_000),
    queryTimeoutMs: positiveInteger('queryTimeoutMs', options.queryTimeoutMs, 60_000),
    listenReconnectMinMs,
    listenReconnectMaxMs,
    applicationName: options.applicationName ?? 'zapjobs',
    asyncClaimCommit,
    logger: options.logger ?? consoleWarnings,
  };
}

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(option, value, 'a positive integer');
  }
  return value;
}

/** The default logger: warnings and errors on the console, debug and info dropped. */
const consoleWarnings: Logger = {
  debug() {},
  info() {},
  warn(fields, message) {
    console.warn(`[zapjobs] WARN ${message}`, fields);
  },
  error(fields, message) {
    console.error(`[zapjobs] ERROR ${message}`, fields);
  },
};
