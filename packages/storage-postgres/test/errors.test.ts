import { StorageError } from '@zapjobs/core/storage';
import { describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { createSchemaStorage, dropSchema, recordingLogger, requirePostgres } from './helpers.js';

const reachable = await requirePostgres();

/** Port 1 on the loopback address, where no server listens. */
const NO_SERVER = 'postgres://postgres@127.0.0.1:1/none';

describe('connection errors', () => {
  it('unreachable server fails calls with StorageError', async () => {
    const { logger } = recordingLogger();
    const storage = new PostgresStorage({ connectionString: NO_SERVER, logger });
    try {
      const now = storage.now();
      await expect(now).rejects.toBeInstanceOf(StorageError);
      await expect(now).rejects.toThrow(/Storage "postgres" failed during now: .*ECONNREFUSED/);
      await expect(storage.migrate()).rejects.toBeInstanceOf(StorageError);
      await expect(
        storage.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 1_000 }),
      ).rejects.toThrow(/failed during claim/);
      await expect(storage.subscribe({})).rejects.toThrow(/failed during subscribe/);
    } finally {
      await storage.close();
    }
  });
});

describe.skipIf(!reachable)('closed storage', () => {
  it('calls after close fail with StorageError', async () => {
    const { storage, descriptor } = await createSchemaStorage();
    await storage.close();
    await storage.close();
    try {
      await expect(storage.now()).rejects.toBeInstanceOf(StorageError);
      await expect(storage.subscribe({})).rejects.toThrow(/storage was closed/);
    } finally {
      await dropSchema(descriptor);
    }
  });
});

if (!reachable) {
  it.skip('closed storage: PostgreSQL is unreachable, see the notice above', () => {});
}
