import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { RunContext } from './adapter.js';

/** Prefix of every schema, key and temporary directory the harness creates. */
export const STATE_PREFIX = 'zjbench';

export function pgUrl(): string {
  return process.env.ZAPJOBS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

export function redisUrl(): string {
  return process.env.ZAPJOBS_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** Builds the names of a run's fresh state; nothing is created yet. */
export function newRunContext(concurrency: number): RunContext {
  const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const directory = mkdtempSync(join(tmpdir(), `${STATE_PREFIX}-`));
  return {
    runId,
    pgUrl: pgUrl(),
    pgSchema: `${STATE_PREFIX}_${runId}`,
    redisUrl: redisUrl(),
    redisPrefix: `${STATE_PREFIX}:${runId}`,
    sqlitePath: join(directory, 'bench.db'),
    concurrency,
  };
}

/** Quotes a PostgreSQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export async function withPgClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: pgUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Deletes every key under the prefix with SCAN and UNLINK; never touches other keys. */
export async function deleteRedisPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Removes the run's PostgreSQL schema, Redis keys and SQLite directory. */
export async function removeRunState(context: RunContext): Promise<void> {
  await withPgClient(async (client) => {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(context.pgSchema)} CASCADE`);
    // Writes the dirty pages of this cell now, so that the next cell's WAL flushes do not share
    // the disk with them. Without the privilege to checkpoint, the next cell starts without it.
    await client.query('CHECKPOINT').catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      console.warn(`CHECKPOINT after the cell failed, the next cell starts without it: ${message}`);
    });
  });
  const redis = new Redis(context.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await deleteRedisPrefix(redis, context.redisPrefix);
    // ZapJobs wraps its prefix in braces, a Redis Cluster hash tag: `{prefix}:run:<id>`.
    await deleteRedisPrefix(redis, `{${context.redisPrefix}}`);
  } finally {
    redis.disconnect();
  }
  rmSync(dirname(context.sqlitePath), { recursive: true, force: true });
}

/** Drops schemas and keys that an interrupted earlier run of the harness left behind. */
export async function removeLeftoverState(): Promise<void> {
  await withPgClient(async (client) => {
    const { rows } = await client.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`,
      [`${STATE_PREFIX}\\_%`],
    );
    for (const row of rows) {
      await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(row.nspname)} CASCADE`);
    }
  });
  const redis = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await deleteRedisPrefix(redis, `${STATE_PREFIX}:`);
    await deleteRedisPrefix(redis, `{${STATE_PREFIX}:`);
  } finally {
    redis.disconnect();
  }
}
