/**
 * Checks of the lighter claim and finish paths: one change-log row per transaction, dependency
 * flags carried over by the migration, bounded promotion of due runs, indexed hot statements,
 * and a short blocking busy wait.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NewRun } from '@zapjobs/core/storage';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStorage } from '../src/index.js';
import { DUE_PER_CLAIM_MAX } from '../src/sql/claims.js';
import { COMPLETE_RUN, EXPIRED_LEASES } from '../src/sql/lifecycle.js';
import { CREATE_MIGRATIONS_TABLE, MIGRATIONS } from '../src/sql/schema.js';
import { createTempStorage, removeTempDir, type SqliteDescriptor } from './helpers.js';

function newRun(overrides: Partial<NewRun> = {}): NewRun {
  return {
    id: randomUUID(),
    job: 'job',
    queue: 'default',
    input: '{}',
    priority: 0,
    maxAttempts: 1,
    historyLevel: 'full',
    ...overrides,
  };
}

describe('SQLite hot paths', () => {
  let storage: SqliteStorage;
  let descriptor: SqliteDescriptor;

  beforeEach(async () => {
    ({ storage, descriptor } = await createTempStorage());
  });

  afterEach(async () => {
    await storage.close();
    removeTempDir(descriptor);
  });

  it('complete writes one change-log row', async () => {
    const other = new SqliteStorage({ path: descriptor.path, pollIntervalMs: 5 });
    try {
      const finished: string[] = [];
      const unsubscribe = await other.subscribe({
        onRunFinished: (runId, state) => finished.push(`${runId}:${state}`),
      });
      const runs = [1, 2, 3, 4, 5].map(() => newRun());
      await storage.insertRuns(runs);
      const claimed = await storage.claim({
        workerId: 'w',
        queues: ['default'],
        limit: 5,
        leaseMs: 30_000,
      });
      expect(claimed).toHaveLength(5);

      const lastId = () =>
        storage.database.prepare('SELECT max(id) FROM zapjobs_notifications').pluck().get();
      const before = lastId() as number;
      const results = await storage.complete(
        claimed.map((run) => ({ runId: run.id, leaseToken: run.leaseToken, output: 'null' })),
      );
      expect(results).toEqual([true, true, true, true, true]);
      expect(lastId()).toBe(before + 1);

      // Another connection still receives a notification for every finished run.
      const deadline = Date.now() + 5_000;
      while (finished.length < 5 && Date.now() < deadline) await sleep(10);
      expect(finished.sort()).toEqual(runs.map((run) => `${run.id}:completed`).sort());
      await unsubscribe();
    } finally {
      await other.close();
    }
  });

  it('claim promotes a bounded number of due runs', async () => {
    const count = DUE_PER_CLAIM_MAX + 200;
    await storage.insertRuns(Array.from({ length: count }, () => newRun({ delayMs: 20 })));
    await sleep(60);

    const [first] = await storage.claim({
      workerId: 'w',
      queues: ['default'],
      limit: 1,
      leaseMs: 30_000,
    });
    expect(first).toBeDefined();
    const counts = await storage.countRuns({});
    expect(counts.running).toBe(1);
    expect(counts.available).toBe(DUE_PER_CLAIM_MAX - 1);
    expect(counts.scheduled).toBe(200);

    // The next claim promotes the rest.
    await storage.claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 30_000 });
    const after = await storage.countRuns({});
    expect(after.scheduled).toBe(0);
    expect(after.running).toBe(2);
  });

  it('hot statements search an index', () => {
    const db = storage.database;
    const plan = (sql: string, params: unknown[]) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
        .map((row) => row.detail)
        .join(' | ');
    const cases: [string, string, unknown[]][] = [
      ['complete', COMPLETE_RUN, ['null', 0, 'id', 'token']],
      ['expired leases', EXPIRED_LEASES, [0, 10]],
      [
        'running by partition',
        "SELECT count(*) FROM zapjobs_runs WHERE state = 'running' AND queue = ? AND partition_key = ?",
        ['q', 'p'],
      ],
      [
        'running by job',
        "SELECT count(*) FROM zapjobs_runs WHERE state = 'running' AND job = ?",
        ['j'],
      ],
    ];
    for (const [label, sql, params] of cases) {
      const detail = plan(sql, params);
      expect(detail, label).toMatch(/USING (COVERING )?INDEX/);
    }
    const indexes = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'zapjobs_runs'")
      .pluck()
      .all();
    expect(indexes).toContain('zapjobs_runs_running');

    // Settling a fan-in child seeks its unmet or unfinished edges rather than reading them all.
    for (const condition of ['satisfied = 0', 'satisfied IS NULL']) {
      const detail = plan(
        `SELECT 1 FROM zapjobs_dependencies WHERE child_id = ? AND ${condition} LIMIT 1`,
        ['child'],
      );
      expect(detail, condition).toContain('zapjobs_dependencies_child_outcome');
    }
    for (const dropped of [
      'zapjobs_runs_lease',
      'zapjobs_runs_running_job',
      'zapjobs_runs_running_partition',
    ]) {
      expect(indexes).not.toContain(dropped);
    }
  });

  it('busy database leaves the event loop free', async () => {
    const blocker = new Database(descriptor.path);
    try {
      blocker.prepare('BEGIN IMMEDIATE').run();
      const inserting = storage.insertRuns([newRun()]);

      // A long synchronous busy wait would show as a long gap between timer ticks.
      let longestGapMs = 0;
      let last = Date.now();
      const until = last + 400;
      while (Date.now() < until) {
        await sleep(1);
        const now = Date.now();
        longestGapMs = Math.max(longestGapMs, now - last);
        last = now;
      }
      blocker.prepare('COMMIT').run();

      const [result] = await inserting;
      expect(result?.created).toBe(true);
      expect(longestGapMs).toBeLessThan(500);
    } finally {
      blocker.close();
    }
  });
});

describe('SQLite migration 3', () => {
  it('marks parents of existing dependency edges', async () => {
    const { storage, descriptor } = await createTempStorage();
    await storage.close();
    const path = `${descriptor.dir}/version-2.db`;
    try {
      // A file at schema version 2 with a running parent and a child waiting on it.
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.exec(CREATE_MIGRATIONS_TABLE);
      for (const migration of MIGRATIONS.filter((entry) => entry.version <= 2)) {
        db.exec(migration.sql);
        db.prepare('INSERT INTO zapjobs_migrations VALUES (?, ?, ?)').run(
          migration.version,
          migration.name,
          Date.now(),
        );
      }
      const insert = db.prepare(
        `INSERT INTO zapjobs_runs (id, job, queue, state, input, priority, attempt, max_attempts,
           run_at, created_at, history_level, lease_token, lease_expires_at)
         VALUES (?, 'job', 'default', ?, '{}', 0, ?, 1, 0, 0, 'full', ?, ?)`,
      );
      insert.run('parent', 'running', 1, 'token', Date.now() + 60_000);
      insert.run('child', 'waiting', 0, null, null);
      db.prepare(
        `INSERT INTO zapjobs_dependencies (child_id, parent_id, position, condition, pass_output)
         VALUES ('child', 'parent', 0, 'success', 0)`,
      ).run();
      db.close();

      const upgraded = new SqliteStorage({ path });
      try {
        await upgraded.migrate();
        const results = await upgraded.complete([
          { runId: 'parent', leaseToken: 'token', output: 'null' },
        ]);
        expect(results).toEqual([true]);
        const child = await upgraded.getRun('child');
        expect(child?.state).toBe('available');
      } finally {
        await upgraded.close();
      }
    } finally {
      removeTempDir(descriptor);
    }
  });
});
