import { randomUUID } from 'node:crypto';
import type { NewRun, RunState } from '@zapjobs/core/storage';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqliteStorage } from '../src/index.js';
import { MIGRATIONS } from '../src/sql/schema.js';
import { createTempStorage, removeTempDir, type SqliteDescriptor } from './helpers.js';
import { forkFixture } from './processes.js';

function bulkRun(i: number): NewRun {
  return {
    id: randomUUID(),
    job: 'bulk',
    queue: 'default',
    input: JSON.stringify({ i }),
    priority: i % 3,
    maxAttempts: 1,
    historyLevel: 'full',
  };
}

/** Counts events of one type per run with raw SQL. */
function eventCounts(path: string, type: string): Map<string, number> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db
      .prepare('SELECT run_id, count(*) AS n FROM zapjobs_events WHERE type = ? GROUP BY run_id')
      .all(type) as { run_id: string; n: number }[];
    return new Map(rows.map((row) => [row.run_id, row.n]));
  } finally {
    db.close();
  }
}

describe('several processes on one file', () => {
  let storage: SqliteStorage;
  let descriptor: SqliteDescriptor;

  beforeEach(async () => {
    ({ storage, descriptor } = await createTempStorage());
  });

  afterEach(async () => {
    await storage.close();
    removeTempDir(descriptor);
  });

  it('worker processes claim every run exactly once', async () => {
    const total = 4_000;
    for (let start = 0; start < total; start += 500) {
      await storage.insertRuns(Array.from({ length: 500 }, (_, i) => bulkRun(start + i)));
    }
    const workers = ['5', '10', '20', '7'].map((batch, n) =>
      forkFixture<{ completed: string[] }>('claimer.mjs', [
        descriptor.path,
        `worker-${n}`,
        batch,
        '1000',
      ]),
    );
    const reports = await Promise.all(workers.map((worker) => worker.message));
    const ids = reports.flatMap((report) => report.completed);

    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);
    const counts = await storage.countRuns({});
    expect(counts.completed).toBe(total);
    expect(counts.running + counts.available + counts.failed).toBe(0);
    // Every run was started once and completed by the worker that claimed it.
    const started = eventCounts(descriptor.path, 'started');
    expect(started.size).toBe(total);
    expect([...started.values()].every((n) => n === 1)).toBe(true);
    for (const [n, report] of reports.entries()) {
      for (const id of report.completed.slice(0, 50)) {
        const run = await storage.getRun(id);
        expect(run!.output).toBe(JSON.stringify(`worker-${n}`));
        expect(run!.workerId).toBe(`worker-${n}`);
      }
    }
  });

  it('SQLITE_BUSY contention neither loses nor fails a run', async () => {
    const locker = forkFixture<{ locksTaken: number }>(
      'locker.mjs',
      [descriptor.path],
      (m) => m !== 'ready',
    );
    const hammers = Array.from({ length: 5 }, (_, n) =>
      forkFixture<{ inserted: string[]; completed: string[] }>('hammer.mjs', [
        descriptor.path,
        `hammer-${n}`,
        '120',
      ]),
    );
    const reports = await Promise.all(hammers.map((hammer) => hammer.message));
    locker.process.send('stop');
    const { locksTaken } = await locker.message;
    expect(locksTaken).toBeGreaterThan(0);

    const inserted = reports.flatMap((report) => report.inserted);
    expect(inserted).toHaveLength(600);
    expect(new Set(inserted).size).toBe(600);
    const completedByHammers = reports.flatMap((report) => report.completed);
    expect(new Set(completedByHammers).size).toBe(completedByHammers.length);

    // Finish what the hammers left, then every run must be completed once.
    for (;;) {
      const claimed = await storage.claim({
        workerId: 'drain',
        queues: ['default'],
        limit: 100,
        leaseMs: 60_000,
      });
      if (claimed.length === 0) break;
      const results = await storage.complete(
        claimed.map((run) => ({ runId: run.id, leaseToken: run.leaseToken, output: '1' })),
      );
      expect(results.every(Boolean)).toBe(true);
    }
    const counts = await storage.countRuns({});
    expect(counts.completed).toBe(600);
    expect(counts.failed).toBe(0);
    const completedEvents = eventCounts(descriptor.path, 'completed');
    expect(completedEvents.size).toBe(600);
    expect([...completedEvents.values()].every((n) => n === 1)).toBe(true);
  });

  it('listeners hear about changes made by another process', async () => {
    const work: string[] = [];
    const finished: [string, RunState][] = [];
    await storage.subscribe({
      onWork: (queues) => work.push(...(queues ?? ['*'])),
      onRunFinished: (runId, state) => finished.push([runId, state]),
    });
    const hammer = forkFixture<{ inserted: string[]; completed: string[] }>('hammer.mjs', [
      descriptor.path,
      'remote',
      '1',
    ]);
    const report = await hammer.message;
    expect(report.completed).toEqual(report.inserted);
    const deadline = Date.now() + 5_000;
    while (finished.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(finished).toEqual([[report.inserted[0], 'completed']]);
    expect(work).toContain('default');
  });

  it('concurrent processes migrate a new file once', async () => {
    const path = `${descriptor.dir}/fresh.db`;
    const migrators = Array.from({ length: 4 }, () => forkFixture<string>('migrator.mjs', [path]));
    expect(await Promise.all(migrators.map((child) => child.message))).toEqual(
      Array(4).fill('migrated'),
    );
    const db = new Database(path, { readonly: true });
    try {
      const versions = db.prepare('SELECT version FROM zapjobs_migrations').pluck().all();
      expect(versions).toEqual(MIGRATIONS.map((migration) => migration.version));
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });
});
