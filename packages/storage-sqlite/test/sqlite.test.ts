import { randomUUID } from 'node:crypto';
import { InvalidOptionError, type NewRun } from '@zapjobs/core/storage';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStorage } from '../src/index.js';
import { CREATE_MIGRATIONS_TABLE, MIGRATIONS } from '../src/sql/schema.js';
import { createTempStorage, removeTempDir, type SqliteDescriptor } from './helpers.js';

function run(overrides: Partial<NewRun> = {}): NewRun {
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

describe('SqliteStorage', () => {
  let storage: SqliteStorage;
  let descriptor: SqliteDescriptor;

  beforeEach(async () => {
    ({ storage, descriptor } = await createTempStorage());
  });

  afterEach(async () => {
    await storage.close();
    removeTempDir(descriptor);
  });

  it('opens the file in WAL mode with foreign keys', () => {
    expect(storage.database.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(storage.database.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(storage.database.pragma('synchronous', { simple: true })).toBe(1);
  });

  it('synchronous FULL is applied', async () => {
    const full = new SqliteStorage({ path: descriptor.path, synchronous: 'FULL' });
    try {
      expect(full.database.pragma('synchronous', { simple: true })).toBe(2);
    } finally {
      await full.close();
    }
  });

  it('migrate is idempotent', async () => {
    await storage.migrate();
    await storage.migrate();
    const versions = storage.database
      .prepare('SELECT version FROM zapjobs_migrations')
      .pluck()
      .all();
    expect(versions).toEqual(MIGRATIONS.map((migration) => migration.version));
  });

  it('migrate rejects a file from a newer version', async () => {
    storage.database
      .prepare('INSERT INTO zapjobs_migrations (version, name, applied_at) VALUES (?, ?, ?)')
      .run(999, 'from the future', Date.now());
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    await expect(storage.migrate()).rejects.toThrow(
      new RegExp(`schema version ${latest} or older.*version 999`),
    );
  });

  it('migration 6 keeps schedules and keys them by tenant', async () => {
    const path = `${descriptor.path}.v5`;
    const old = new Database(path);
    old.exec(CREATE_MIGRATIONS_TABLE);
    for (const migration of MIGRATIONS.filter((candidate) => candidate.version <= 5)) {
      old.exec(migration.sql);
      old
        .prepare('INSERT INTO zapjobs_migrations (version, name, applied_at) VALUES (?, ?, ?)')
        .run(migration.version, migration.name, Date.now());
    }
    const insert = old.prepare(
      `INSERT INTO zapjobs_schedules (name, job, input, cron, interval_ms, timezone, paused,
         next_fire_at, last_fire_at, options, tenant_id, created_at, updated_at)
       VALUES (?, 'report', '{}', NULL, 60000, NULL, ?, 5000, 4000, '{}', ?, 1, 2)`,
    );
    insert.run('daily', 0, 'acme');
    insert.run('acme/daily', 1, null);
    old.close();

    const upgraded = new SqliteStorage({ path });
    try {
      await upgraded.migrate();
      const acme = await upgraded.getSchedule({ name: 'daily', tenantId: 'acme' });
      expect(acme).toMatchObject({ tenantId: 'acme', paused: false, nextFireAt: 5_000 });
      expect(acme).toMatchObject({ lastFireAt: 4_000, createdAt: 1, updatedAt: 2 });
      expect(await upgraded.getSchedule({ name: 'daily', tenantId: null })).toBeNull();
      const plain = await upgraded.getSchedule({ name: 'acme/daily', tenantId: null });
      expect(plain).toMatchObject({ tenantId: null, paused: true });
      expect((await upgraded.dueSchedules(10)).map((schedule) => schedule.name)).toEqual(['daily']);
      // The new key lets another tenant declare the same name.
      await upgraded.upsertSchedule({
        name: 'daily',
        job: 'report',
        input: '{}',
        cron: null,
        intervalMs: 60_000,
        timezone: null,
        options: '{}',
        nextFireAt: 7_000,
        resetNextFireAt: true,
      });
      expect(await upgraded.listSchedules()).toHaveLength(3);
      expect((await upgraded.getSchedule({ name: 'daily', tenantId: 'acme' }))?.nextFireAt).toBe(
        5_000,
      );
    } finally {
      await upgraded.close();
    }
  });

  it('invalid options are rejected with the option name', () => {
    expect(() => new SqliteStorage({ path: '' })).toThrow(InvalidOptionError);
    expect(() => new SqliteStorage({ path: descriptor.path, busyTimeoutMs: -1 })).toThrow(
      /busyTimeoutMs/,
    );
    expect(() => new SqliteStorage({ path: descriptor.path, pollIntervalMs: 0 })).toThrow(
      /pollIntervalMs/,
    );
    expect(
      () => new SqliteStorage({ path: descriptor.path, synchronous: 'OFF' as 'FULL' }),
    ).toThrow(/synchronous/);
  });

  it('a foreign cursor is rejected', async () => {
    await expect(storage.listRuns({}, { limit: 10, cursor: 'not-a-cursor' })).rejects.toThrow(
      InvalidOptionError,
    );
    const events = await storage.listEvents({ limit: 1 });
    expect(events.nextCursor).toBeNull();
    await storage.insertRuns([run(), run()]);
    const page = await storage.listEvents({ limit: 1 });
    await expect(storage.listRuns({}, { limit: 1, cursor: page.nextCursor! })).rejects.toThrow(
      /cursor/,
    );
  });

  it('insertRuns joins a transaction of the caller', async () => {
    const db = storage.database;
    db.exec('CREATE TABLE orders (id TEXT PRIMARY KEY)');
    const committed = run();
    db.transaction(() => {
      db.prepare('INSERT INTO orders (id) VALUES (?)').run('order-1');
      void storage.insertRuns([committed], { transaction: db });
    })();
    expect(await storage.getRun(committed.id)).not.toBeNull();

    const rolledBack = run();
    expect(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO orders (id) VALUES (?)').run('order-2');
        void storage.insertRuns([rolledBack], { transaction: db });
        throw new Error('abort');
      })(),
    ).toThrow('abort');
    expect(await storage.getRun(rolledBack.id)).toBeNull();
    expect(db.prepare('SELECT id FROM orders').pluck().all()).toEqual(['order-1']);
  });

  it('insertRuns rejects a transaction handle it cannot join', () => {
    expect(() => storage.insertRuns([run()], { transaction: {} })).toThrow(/transaction/);
    expect(() => storage.insertRuns([run()], { transaction: storage.database })).toThrow(
      /transaction/,
    );
  });

  it('insertRuns joins a transaction opened by hand', async () => {
    const db = storage.database;
    const first = run();
    db.exec('BEGIN IMMEDIATE');
    await storage.insertRuns([first], { transaction: db });
    db.exec('ROLLBACK');
    expect(await storage.getRun(first.id)).toBeNull();

    const second = run();
    db.exec('BEGIN IMMEDIATE');
    await storage.insertRuns([second], { transaction: db });
    db.exec('COMMIT');
    expect(await storage.getRun(second.id)).not.toBeNull();
  });

  it('other calls wait for a transaction opened by hand', async () => {
    const db = storage.database;
    const pending = run();
    db.exec('BEGIN IMMEDIATE');
    await storage.insertRuns([pending], { transaction: db });
    let settled = false;
    const claimed = storage
      .claim({ workerId: 'w', queues: ['default'], limit: 10, leaseMs: 1_000 })
      .finally(() => {
        settled = true;
      });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    db.exec('ROLLBACK');
    // The claim ran after the rollback, outside the abandoned transaction.
    expect(await claimed).toEqual([]);
    expect(await storage.getRun(pending.id)).toBeNull();
  });

  it('operations after close fail with a StorageError', async () => {
    await storage.close();
    await expect(storage.getRun('x')).rejects.toThrow(/Storage "sqlite" failed during getRun/);
    await storage.close();
  });

  it('an idle subscriber does not read the change log', async () => {
    const other = new SqliteStorage({ path: descriptor.path, pollIntervalMs: 5 });
    try {
      await other.subscribe({});
      let reads = 0;
      const prepare = other.database.prepare.bind(other.database);
      other.database.prepare = ((sql: string) => {
        if (sql.includes('zapjobs_notifications')) reads += 1;
        return prepare(sql);
      }) as typeof other.database.prepare;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(reads).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('a raw connection sees a consistent file', async () => {
    await storage.insertRuns(Array.from({ length: 50 }, () => run()));
    const db = new Database(descriptor.path, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.prepare('SELECT count(*) FROM zapjobs_runs').pluck().get()).toBe(50);
    } finally {
      db.close();
    }
  });
});
