/**
 * Opens a fresh, migrated storage of one backend for the tenancy scripts, and removes it after.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@zapjobs/core';
import type { Storage } from '@zapjobs/core/storage';
import pg from 'pg';

export type BackendName = 'sqlite' | 'postgres' | 'redis';

export interface Backend {
  name: BackendName;
  storage: Storage;
  /** Opens another storage on the same data, as another worker process would. */
  open(): Promise<Storage>;
  cleanup(): Promise<void>;
}

const PG_URL = process.env.ZAPJOBS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.ZAPJOBS_REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function openBackend(name: BackendName): Promise<Backend> {
  if (name === 'sqlite') {
    const { SqliteStorage } = await import('@zapjobs/storage-sqlite');
    const dir = mkdtempSync(join(tmpdir(), 'zapjobs-tenancy-'));
    const path = join(dir, 'bench.db');
    const storage = new SqliteStorage({ path, pollIntervalMs: 10 });
    await storage.migrate();
    return {
      name,
      storage,
      open: async () => {
        const other = new SqliteStorage({ path, pollIntervalMs: 10 });
        await other.migrate();
        return other;
      },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (name === 'postgres') {
    const { PostgresStorage } = await import('@zapjobs/storage-postgres');
    const schema = `zj_tenancy_${Math.random().toString(16).slice(2, 10)}`;
    const storage = new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 8 });
    await storage.migrate();
    return {
      name,
      storage,
      open: async () => new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 8 }),
      cleanup: async () => {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`drop schema if exists ${pg.escapeIdentifier(schema)} cascade`);
        await client.end();
      },
    };
  }
  const { RedisStorage } = await import('@zapjobs/storage-redis');
  const prefix = `zj-tenancy-${Math.random().toString(16).slice(2, 10)}`;
  // Silent: the persistence warning of a test server without AOF is expected here.
  const options = { url: REDIS_URL, prefix, logger: silentLogger };
  const storage = new RedisStorage(options);
  await storage.migrate();
  return {
    name,
    storage,
    open: async () => new RedisStorage(options),
    cleanup: async () => {
      const { Redis } = await import('ioredis');
      const client = new Redis(REDIS_URL);
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000);
        if (keys.length > 0) await client.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      await client.quit();
    },
  };
}

export async function closeBackend(backend: Backend): Promise<void> {
  await backend.storage.close();
  await backend.cleanup();
}
