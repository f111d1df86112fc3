import { createHash } from 'node:crypto';
import type { Logger } from '@zapjobs/core';
import { StorageError, ZapJobsError } from '@zapjobs/core/storage';
import pg from 'pg';
import { tenancyError } from './tenancy-errors.js';

export const BACKEND = 'postgres';

/** SQLSTATE codes after which a statement of ours can be run again: nothing was committed. */
const RETRYABLE_CODES = new Set(['40P01', '40001']);
const MAX_RETRIES = 5;

/** Parses int8 as a JS number: every bigint column holds epoch milliseconds or an event id. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** A named (prepared) statement: PostgreSQL parses and plans it once per connection. */
export interface Statement {
  name: string;
  text: string;
}

/** Makes a named statement. The name is derived from the text, so equal texts share it. */
export function statement(text: string): Statement {
  const digest = createHash('sha1').update(text).digest('hex').slice(0, 20);
  return { name: `zapjobs_${digest}`, text };
}

/** Anything with pg's `query(config)`: a pool, a client, or a pool client. */
export interface Queryable {
  query(config: pg.QueryConfig): Promise<pg.QueryResult>;
}

/**
 * The pool wrapper every operation goes through. It maps failures to {@link StorageError},
 * parses bigint columns as numbers, and runs statements again after a deadlock or
 * serialization failure, which PostgreSQL reports only for work it rolled back.
 */
export class Db {
  constructor(
    readonly pool: pg.Pool,
    readonly logger: Logger,
    /** `queryTimeoutMs` of the storage, named in the error of a statement that timed out. */
    readonly queryTimeoutMs = 0,
  ) {}

  /** Runs one statement on a pooled connection, retrying deadlocks. */
  async query<Row = Record<string, unknown>>(
    operation: string,
    sql: Statement | string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<Row & pg.QueryResultRow>> {
    return this.retrying(operation, () => runQuery(this.pool, sql, values));
  }

  /** Runs one statement like {@link Db.query} and returns its rows as arrays of values. */
  async queryArrays(
    operation: string,
    sql: Statement,
    values: unknown[] = [],
  ): Promise<unknown[][]> {
    const result = await this.retrying(operation, () =>
      this.pool.query({ name: sql.name, text: sql.text, values, types, rowMode: 'array' }),
    );
    return result.rows as unknown[][];
  }

  /**
   * Runs `work` inside BEGIN ... COMMIT on one connection, retrying the whole transaction
   * after a deadlock. A connection that failed is destroyed rather than returned to the pool.
   */
  async transaction<T>(operation: string, work: (client: Queryable) => Promise<T>): Promise<T> {
    return this.retrying(operation, async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('begin');
        const result = await work(client);
        await client.query('commit');
        return result;
      } catch (error) {
        broken = await rollback(client, error);
        throw error;
      } finally {
        client.release(broken);
      }
    });
  }

  private async retrying<T>(operation: string, attempt: () => Promise<T>): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await attempt();
      } catch (error) {
        if (retry < MAX_RETRIES && RETRYABLE_CODES.has(sqlState(error))) {
          this.logger.debug(
            { err: error, operation, retry: retry + 1 },
            'postgres statement rolled back by a deadlock or serialization failure; retrying',
          );
          continue;
        }
        throw toStorageError(operation, this.explainTimeout(error));
      }
    }
  }

  /** Replaces pg's bare read-timeout error with one that names the option and the fix. */
  private explainTimeout(error: unknown): unknown {
    if (!isQueryTimeout(error)) return error;
    return new Error(
      `no reply from PostgreSQL within queryTimeoutMs (${this.queryTimeoutMs} ms); the ` +
        'connection was closed and the next call opens a new one. Raise queryTimeoutMs if ' +
        'statements this slow are expected',
      { cause: error },
    );
  }
}

/** Idle time before the first TCP keepalive probe on a connection, in ms. */
export const KEEPALIVE_DELAY_MS = 30_000;

/** Destroys the socket under a pg client at once, without the goodbye a dead peer never reads. */
export function destroySocket(client: pg.Client): void {
  const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection
    ?.stream;
  stream?.destroy();
}

/** True for the error pg gives a statement that had no reply within `query_timeout`. */
export function isQueryTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

/** Runs one statement on `target` with the int8 parser; named when given a {@link Statement}. */
export function runQuery<Row = Record<string, unknown>>(
  target: Queryable,
  sql: Statement | string,
  values: unknown[] = [],
): Promise<pg.QueryResult<Row & pg.QueryResultRow>> {
  const config: pg.QueryConfig =
    typeof sql === 'string'
      ? { text: sql, values, types }
      : { name: sql.name, text: sql.text, values, types };
  return target.query(config) as Promise<pg.QueryResult<Row & pg.QueryResultRow>>;
}

/** Rolls back after a failure; returns the error to destroy the connection with, if any. */
async function rollback(client: pg.PoolClient, cause: unknown): Promise<Error | undefined> {
  if (isConnectionError(cause)) return cause instanceof Error ? cause : new Error(String(cause));
  try {
    await client.query('rollback');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** Wraps an infrastructure failure; ZapJobs errors (invalid options) pass through as they are. */
export function toStorageError(operation: string, error: unknown): Error {
  if (error instanceof ZapJobsError) return error;
  const rejection = tenancyError(error);
  if (rejection !== null) return rejection;
  return new StorageError(BACKEND, operation, error);
}

export function sqlState(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : '';
}

/**
 * True for a failure of the connection itself rather than of a statement: network errors,
 * and SQLSTATE classes 08 (connection exception) and 57P (server shutting down or
 * terminating the session).
 */
export function isConnectionError(error: unknown): boolean {
  const code = sqlState(error);
  if (code.startsWith('08') || code.startsWith('57P')) return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND'].includes(code)) {
    return true;
  }
  const message = error instanceof Error ? error.message : '';
  if (isQueryTimeout(error)) return true;
  return /Connection terminated|not queryable|Client has encountered a connection error/i.test(
    message,
  );
}
