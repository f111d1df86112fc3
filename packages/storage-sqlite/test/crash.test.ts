import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqliteStorage } from '../src/index.js';
import { createTempStorage, openStorage, removeTempDir, type SqliteDescriptor } from './helpers.js';
import { forkFixture } from './processes.js';

const BATCH_SIZE = 400;
const ROUNDS = 6;

describe('a process killed during a write', () => {
  let storage: SqliteStorage;
  let descriptor: SqliteDescriptor;

  beforeEach(async () => {
    ({ storage, descriptor } = await createTempStorage());
    await storage.close();
  });

  afterEach(() => {
    removeTempDir(descriptor);
  });

  it('SIGKILL mid-transaction keeps the file consistent and loses no committed run', async () => {
    const reported: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // The inserter spends most of its time inside insert transactions of BATCH_SIZE runs, so
      // a kill at a random moment usually lands in the middle of one.
      const inserter = forkFixture<{ committed: number }>('inserter.mjs', [
        descriptor.path,
        String(round * 10_000),
        String(BATCH_SIZE),
      ]);
      inserter.process.on('message', (message) => {
        reported.push((message as { committed: number }).committed);
      });
      await inserter.message;
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 200));
      inserter.process.kill('SIGKILL');
      expect(await inserter.exit).toBe('SIGKILL');

      const db = new Database(descriptor.path);
      try {
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
        expect(db.pragma('foreign_key_check')).toEqual([]);
        const groups = db
          .prepare('SELECT group_id, count(*) AS n FROM zapjobs_runs GROUP BY group_id')
          .all() as { group_id: string; n: number }[];
        // Each batch is all there or not at all.
        for (const group of groups) expect(group.n).toBe(BATCH_SIZE);
        const present = new Set(groups.map((group) => group.group_id));
        for (const batch of reported) expect(present.has(`batch-${batch}`)).toBe(true);
        const runs = db.prepare('SELECT count(*) FROM zapjobs_runs').pluck().get();
        const enqueued = db
          .prepare("SELECT count(*) FROM zapjobs_events WHERE type = 'enqueued'")
          .pluck()
          .get();
        expect(enqueued).toBe(runs);
      } finally {
        db.close();
      }
    }
    expect(reported.length).toBeGreaterThanOrEqual(ROUNDS);

    // The storage still works on the recovered file.
    const reopened = await openStorage(descriptor);
    try {
      const claimed = await reopened.claim({
        workerId: 'after-crash',
        queues: ['default'],
        limit: 5,
        leaseMs: 1_000,
      });
      expect(claimed).toHaveLength(5);
    } finally {
      await reopened.close();
    }
  });

  it('a worker killed while holding leases loses no run', async () => {
    const storage = await openStorage(descriptor);
    try {
      const total = 300;
      await storage.insertRuns(
        Array.from({ length: total }, (_, i) => ({
          id: `run-${String(i).padStart(4, '0')}`,
          job: 'slow',
          queue: 'default',
          input: '{}',
          priority: 0,
          maxAttempts: 3,
          historyLevel: 'full' as const,
        })),
      );
      // Lease 300 ms, each batch of 20 held for 2 s: killed while it holds its first batch.
      const worker = forkFixture<{ holding: string[] }>(
        'claimer.mjs',
        [descriptor.path, 'doomed', '20', '1000', '300', '2000'],
        (message) => typeof message === 'object' && message !== null && 'holding' in message,
      );
      const { holding } = await worker.message;
      expect(holding).toHaveLength(20);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 100));
      worker.process.kill('SIGKILL');
      expect(await worker.exit).toBe('SIGKILL');

      // Runs the killed worker still held stay running until their lease expires.
      const stuck = (await storage.listRuns({ states: ['running'] }, { limit: 1000 })).items;
      expect(stuck.map((run) => run.id).sort()).toEqual([...holding].sort());
      const deadline = Date.now() + 10_000;
      while ((await storage.countRuns({})).completed < total && Date.now() < deadline) {
        await storage.reclaimExpired(100);
        const claimed = await storage.claim({
          workerId: 'survivor',
          queues: ['default'],
          limit: 50,
          leaseMs: 5_000,
        });
        if (claimed.length === 0) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        const results = await storage.complete(
          claimed.map((run) => ({ runId: run.id, leaseToken: run.leaseToken, output: '1' })),
        );
        expect(results.every(Boolean)).toBe(true);
      }

      const counts = await storage.countRuns({});
      expect(counts.completed).toBe(total);
      expect(counts.running + counts.available + counts.failed).toBe(0);
      for (const held of stuck) {
        const run = await storage.getRun(held.id);
        expect(run!.state).toBe('completed');
        expect(run!.workerId).toBe('survivor');
        expect(run!.attempt).toBe(2);
        expect(run!.error?.code).toBe('RUN_STALLED');
      }
    } finally {
      await storage.close();
    }
  });
});
