import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@zapjobs/core';
import type { NewRun } from '@zapjobs/core/storage';
import pg from 'pg';
import { PostgresStorage } from '../src/index.js';

/** The shared test server; tests that stop or restart a server start a private one instead. */
export const PG_URL = process.env.ZAPJOBS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** What another connection or process needs to open a test storage. */
export interface PostgresDescriptor {
  connectionString: string;
  schema: string;
}

/**
 * Checks that the test server accepts a connection. Under CI=true an unreachable server throws, which fails
 * the test file; elsewhere it prints a loud notice and returns false, and the file registers
 * one skipped test that names the problem.
 */
export async function requirePostgres(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (error) {
    const message =
      `PostgreSQL at ${PG_URL} is unreachable (${(error as Error).message}). ` +
      'Start it or set ZAPJOBS_PG_URL to a server this user can create schemas on.';
    if (process.env.CI === 'true') throw new Error(message);
    console.warn(
      `\n${'!'.repeat(78)}\n!! ${message}\n!! The PostgreSQL tests of this file did NOT run.\n${'!'.repeat(78)}\n`,
    );
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Returns a schema name that no other test uses. */
export function randomSchema(prefix = 'zj_test_'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

/** Creates a migrated storage on a fresh schema of the test server. */
export async function createSchemaStorage(): Promise<{
  storage: PostgresStorage;
  descriptor: PostgresDescriptor;
}> {
  const descriptor = { connectionString: PG_URL, schema: randomSchema() };
  const storage = openStorage(descriptor);
  await storage.migrate();
  return { storage, descriptor };
}

/** Opens another storage on the schema a descriptor names, with a small pool. */
export function openStorage(descriptor: unknown): PostgresStorage {
  const { connectionString, schema } = descriptor as PostgresDescriptor;
  return new PostgresStorage({ connectionString, schema, poolSize: 4 });
}

/** Drops a test schema with everything in it. */
export async function dropSchema(descriptor: unknown): Promise<void> {
  const { connectionString, schema } = descriptor as PostgresDescriptor;
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${pg.escapeIdentifier(schema)} cascade`);
  } finally {
    await client.end();
  }
}

/** Builds a valid new run on queue `default` with full history; `overrides` replace any field. */
export function newRun(overrides: Partial<NewRun> = {}): NewRun {
  return {
    id: randomUUID(),
    job: 'test-job',
    queue: 'default',
    input: '{"n":1}',
    priority: 0,
    maxAttempts: 3,
    historyLevel: 'full',
    ...overrides,
  };
}

/** Polls `check` every 10 ms until it returns true, failing after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Creates a logger that keeps every line, so tests can check what was logged. */
export function recordingLogger() {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const write = (level: string) => (fields: Record<string, unknown>, message: string) => {
    lines.push({ level, message, fields });
  };
  const logger: Logger = {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
  };
  return { logger, lines };
}
