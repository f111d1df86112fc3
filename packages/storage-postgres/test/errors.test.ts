import { InvalidOptionError, StorageError } from '@zapjobs/core/storage';
import { describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import {
  createSchemaStorage,
  dropSchema,
  newRun,
  recordingLogger,
  requirePostgres,
} from './helpers.js';

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

describe.skipIf(!reachable)('run ids', () => {
  it('insert rejects a non-UUID run id', async () => {
    const { storage, descriptor } = await createSchemaStorage();
    try {
      const valid = newRun();
      const insert = storage.insertRuns([valid, newRun({ id: 'job-42' })]);
      await expect(insert).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(insert).rejects.toThrow(/runs\[1\]\.id: "job-42".*lowercase UUID/);
      expect(await storage.getRun(valid.id)).toBeNull();
    } finally {
      await storage.close();
      await dropSchema(descriptor);
    }
  });

  it('the nil UUID and fired schedules are checked too', async () => {
    const { storage, descriptor } = await createSchemaStorage();
    try {
      const nil = newRun({ id: '00000000-0000-0000-0000-000000000000' });
      await expect(storage.insertRuns([nil])).rejects.toThrow(/runs\[0\]\.id: "0{8}-/);
      const schedule = { name: 'nightly', nextFireAt: 1_000 };
      await storage.upsertSchedule({
        ...schedule,
        job: 'report',
        input: '{}',
        cron: null,
        intervalMs: 60_000,
        timezone: null,
        options: '{}',
        resetNextFireAt: true,
      });
      const fire = storage.fireSchedule({
        name: 'nightly',
        tenantId: null,
        expectedNextFireAt: 1_000,
        nextFireAt: 61_000,
        lastFireAt: 1_000,
        runs: [newRun({ id: 'sched-run-1' })],
      });
      await expect(fire).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(fire).rejects.toThrow(/runs\[0\]\.id: "sched-run-1"/);
      // Nothing fired: the schedule keeps its next fire time.
      expect((await storage.getSchedule({ name: 'nightly', tenantId: null }))?.nextFireAt).toBe(
        1_000,
      );
    } finally {
      await storage.close();
      await dropSchema(descriptor);
    }
  });

  it('a list cursor that is not a run id is rejected', async () => {
    const { storage, descriptor } = await createSchemaStorage();
    try {
      const page = storage.listRuns({}, { limit: 10, cursor: "x' or true" });
      await expect(page).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(page).rejects.toThrow(/cursor.*nextCursor of a previous page/);
    } finally {
      await storage.close();
      await dropSchema(descriptor);
    }
  });
});

if (!reachable) {
  it.skip('closed storage: PostgreSQL is unreachable, see the notice above', () => {});
  it.skip('run ids: PostgreSQL is unreachable, see the notice above', () => {});
}
