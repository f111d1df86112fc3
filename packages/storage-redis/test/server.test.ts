import { setTimeout as sleep } from 'node:timers/promises';
import { type ScheduleUpsert, StorageError } from '@zapjobs/core/storage';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';
import {
  deleteNamespace,
  memoryLogger,
  redisUrl,
  requireRedis,
  uniquePrefix,
} from './helpers/redis.js';
import { freePort, PrivateRedis } from './helpers/servers.js';

// Behaviour that depends on the server: persistence warnings, CONFIG being disabled, script
// cache loss, connection failures, and the options that pick a server.

let admin: Redis;
const prefixes: string[] = [];

beforeAll(async () => {
  await requireRedis();
  admin = new Redis(redisUrl);
});

afterAll(async () => {
  for (const prefix of prefixes) await deleteNamespace(admin, prefix);
  await admin?.quit();
});

interface Version1Schedule {
  tenantId?: string;
  paused?: boolean;
  nextFireAt?: number;
  input?: string;
  intervalMs?: string;
  /** Fields of the hash to leave out, to write a broken one. */
  omit?: string[];
}

/**
 * Writes a schedule as a release at data layout version 1 does, and as a process of such a
 * release still does after migrate: hash "sc:<name>", member `name` in "scn" and in "scd" when
 * not paused.
 */
async function writeVersion1Schedule(p: string, name: string, schedule: Version1Schedule = {}) {
  const nextFireAt = schedule.nextFireAt ?? 5_000;
  const paused = schedule.paused ?? false;
  const fields: Record<string, string> = {
    name,
    job: 'report',
    input: schedule.input ?? '{}',
    options: '{}',
    intervalMs: schedule.intervalMs ?? '60000',
    paused: paused ? '1' : '0',
    nextFireAt: String(nextFireAt),
    lastFireAt: '4000',
    createdAt: '1',
    updatedAt: '2',
  };
  if (schedule.tenantId !== undefined) fields.tenantId = schedule.tenantId;
  for (const field of schedule.omit ?? []) delete fields[field];
  await admin.hset(`${p}sc:${name}`, fields);
  await admin.zadd(`${p}scn`, 0, name);
  if (!paused) await admin.zadd(`${p}scd`, nextFireAt, name);
}

function persistenceWarnings(lines: ReturnType<typeof memoryLogger>['lines']) {
  return lines.filter((line) => line.level === 'warn' && line.message.includes('persistence'));
}

describe('persistence check', () => {
  it('warns when the server keeps nothing on disk', async () => {
    const server = await PrivateRedis.start(['--appendonly', 'no', '--save', '']);
    try {
      const { logger, lines } = memoryLogger();
      const storage = new RedisStorage({ url: server.url, prefix: uniquePrefix(), logger });
      await storage.migrate();
      await storage.close();
      expect(persistenceWarnings(lines)).toHaveLength(1);
      expect(persistenceWarnings(lines)[0]!.message).toContain('appendonly yes');
    } finally {
      await server.destroy();
    }
  });

  it('stays quiet with AOF or RDB snapshots on', async () => {
    for (const args of [
      ['--appendonly', 'yes', '--save', ''],
      ['--appendonly', 'no', '--save', '3600 1'],
    ]) {
      const server = await PrivateRedis.start(args);
      try {
        const { logger, lines } = memoryLogger();
        const storage = new RedisStorage({ url: server.url, prefix: uniquePrefix(), logger });
        await storage.migrate();
        await storage.close();
        expect(persistenceWarnings(lines)).toEqual([]);
      } finally {
        await server.destroy();
      }
    }
  });

  it('tolerates a server with CONFIG disabled', async () => {
    const server = await PrivateRedis.start(['--rename-command', 'CONFIG', '""', '--save', '']);
    try {
      const { logger, lines } = memoryLogger();
      const storage = new RedisStorage({ url: server.url, prefix: uniquePrefix(), logger });
      await storage.migrate();
      const [run] = await storage.insertRuns([
        {
          id: '01900000-0000-7000-8000-000000000001',
          job: 'j',
          queue: 'default',
          input: '{}',
          priority: 0,
          maxAttempts: 1,
          historyLevel: 'full',
        },
      ]);
      await storage.close();
      expect(run!.created).toBe(true);
      expect(persistenceWarnings(lines)).toEqual([]);
      expect(lines.some((line) => line.level === 'debug' && line.message.includes('CONFIG'))).toBe(
        true,
      );
    } finally {
      await server.destroy();
    }
  });
});

describe('scripts', () => {
  it('are loaded again after the server forgets them', async () => {
    const server = await PrivateRedis.start(['--save', '']);
    const probe = new Redis(server.url);
    try {
      const storage = new RedisStorage({
        url: server.url,
        prefix: uniquePrefix(),
        logger: memoryLogger().logger,
      });
      await storage.migrate();
      const run = {
        id: '01900000-0000-7000-8000-000000000002',
        job: 'j',
        queue: 'default',
        input: '{}',
        priority: 0,
        maxAttempts: 1,
        historyLevel: 'full' as const,
      };
      await probe.script('FLUSH');
      const [inserted] = await storage.insertRuns([run]);
      const claimed = await storage.claim({
        workerId: 'w',
        queues: ['default'],
        limit: 1,
        leaseMs: 1000,
      });
      await storage.close();
      expect(inserted!.created).toBe(true);
      expect(claimed.map((claimedRun) => claimedRun.id)).toEqual([run.id]);
      expect(await probe.info('commandstats')).toMatch(/cmdstat_evalsha:calls=\d+.*failed_calls=2/);
    } finally {
      await probe.quit();
      await server.destroy();
    }
  });
});

describe('migrate', () => {
  it('rejects a newer data layout', async () => {
    const prefix = uniquePrefix('layout');
    prefixes.push(prefix);
    await admin.hset(`{${prefix}}:meta`, 'schemaVersion', '99');
    const storage = new RedisStorage({ url: redisUrl, prefix, logger: memoryLogger().logger });
    const failure = await storage.migrate().catch((error: unknown) => error);
    await storage.close();
    expect(failure).toBeInstanceOf(StorageError);
    expect((failure as Error).message).toContain('data layout version 99');
  });

  it('can run twice and from two storages at once', async () => {
    const prefix = uniquePrefix('migrate');
    prefixes.push(prefix);
    const storages = [0, 1].map(
      () => new RedisStorage({ url: redisUrl, prefix, logger: memoryLogger().logger }),
    );
    await Promise.all(storages.map((storage) => storage.migrate()));
    await storages[0]!.migrate();
    for (const storage of storages) await storage.close();
    expect(await admin.hget(`{${prefix}}:meta`, 'schemaVersion')).toBe('2');
  });

  it('moves schedules of layout version 1 to tenant keys', async () => {
    const prefix = uniquePrefix('rekey');
    prefixes.push(prefix);
    const p = `{${prefix}}:`;
    await admin.hset(`${p}meta`, 'schemaVersion', '1');
    await writeVersion1Schedule(p, 'daily', { tenantId: 'acme' });
    await writeVersion1Schedule(p, 'acme/daily', { paused: true });
    await writeVersion1Schedule(p, 'hourly');

    const { logger, lines } = memoryLogger();
    const storages = [0, 1].map(() => new RedisStorage({ url: redisUrl, prefix, logger }));
    try {
      await Promise.all(storages.map((storage) => storage.migrate()));
      const [storage] = storages as [RedisStorage, RedisStorage];
      expect(await admin.hget(`${p}meta`, 'schemaVersion')).toBe('2');
      const moved = lines.filter((line) => line.message.includes('to data layout version 2'));
      expect(moved.map((line) => line.message)).toEqual([
        `Moved 3 schedule(s) of namespace ${p} to data layout version 2, where schedule ` +
          'names are unique per tenant',
      ]);

      const acme = await storage.getSchedule({ name: 'daily', tenantId: 'acme' });
      expect(acme).toMatchObject({ tenantId: 'acme', paused: false, nextFireAt: 5_000 });
      expect(acme).toMatchObject({ lastFireAt: 4_000, createdAt: 1, updatedAt: 2 });
      expect(await storage.getSchedule({ name: 'daily', tenantId: null })).toBeNull();
      const plain = await storage.getSchedule({ name: 'acme/daily', tenantId: null });
      expect(plain).toMatchObject({ tenantId: null, paused: true });
      const due = (await storage.dueSchedules(10)).map((schedule) => schedule.name).sort();
      expect(due).toEqual(['daily', 'hourly']);
      expect((await storage.listSchedules({ tenantId: 'acme' })).map((s) => s.name)).toEqual([
        'daily',
      ]);
      expect(await admin.exists(`${p}sc:daily`, `${p}sc:hourly`)).toBe(0);
      expect((await admin.zrange(`${p}scn`, '0', '-1')).sort()).toEqual([
        '/acme/daily',
        '/hourly',
        'acme/daily',
      ]);
    } finally {
      for (const storage of storages) await storage.close();
    }
  });

  it('rekey names schedules by their scn entry', async () => {
    const prefix = uniquePrefix('rekey-name');
    prefixes.push(prefix);
    const p = `{${prefix}}:`;
    await admin.hset(`${p}meta`, 'schemaVersion', '1');
    await writeVersion1Schedule(p, 'nameless', { tenantId: 'acme', omit: ['name'] });
    await writeVersion1Schedule(p, 'weekly');
    await admin.hset(`${p}sc:weekly`, 'name', 'other');
    await writeVersion1Schedule(p, 'hourly');

    const storage = new RedisStorage({ url: redisUrl, prefix, logger: memoryLogger().logger });
    try {
      await storage.migrate();
      expect(await admin.hget(`${p}meta`, 'schemaVersion')).toBe('2');
      const nameless = await storage.getSchedule({ name: 'nameless', tenantId: 'acme' });
      expect(nameless).toMatchObject({ name: 'nameless', tenantId: 'acme', nextFireAt: 5_000 });
      expect((await storage.getSchedule({ name: 'weekly', tenantId: null }))?.name).toBe('weekly');
      expect(await storage.getSchedule({ name: 'other', tenantId: null })).toBeNull();
      expect((await admin.zrange(`${p}scn`, '0', '-1')).sort()).toEqual([
        '/hourly',
        '/weekly',
        'acme/nameless',
      ]);
      expect((await admin.zrange(`${p}scd`, '0', '-1')).sort()).toEqual([
        '/hourly',
        '/weekly',
        'acme/nameless',
      ]);
    } finally {
      await storage.close();
    }
  });

  it('rekey rejects a bad tenant before any write', async () => {
    const prefix = uniquePrefix('rekey-bad');
    prefixes.push(prefix);
    const p = `{${prefix}}:`;
    await admin.hset(`${p}meta`, 'schemaVersion', '1');
    // "hourly" sorts first, so a script that wrote as it went would have moved it already.
    await writeVersion1Schedule(p, 'hourly');
    await writeVersion1Schedule(p, 'zz-bad', { tenantId: 'a/b' });

    const storage = new RedisStorage({ url: redisUrl, prefix, logger: memoryLogger().logger });
    const failure = await storage.migrate().catch((error: unknown) => error);
    await storage.close();
    expect(failure).toBeInstanceOf(StorageError);
    expect((failure as Error).message).toContain(
      `schedule hash ${p}sc:zz-bad has tenantId "a/b", which is empty or contains "/"`,
    );
    expect(await admin.hget(`${p}meta`, 'schemaVersion')).toBe('1');
    expect(await admin.exists(`${p}sc:hourly`, `${p}sc:zz-bad`)).toBe(2);
    expect(await admin.zrange(`${p}scn`, '0', '-1')).toEqual(['hourly', 'zz-bad']);
    expect(await admin.zrange(`${p}scd`, '0', '-1')).toEqual(['hourly', 'zz-bad']);
  });
});

describe('schedules of an older process after migrate', () => {
  const schedule = (name: string, nextFireAt: number, tenantId?: string): ScheduleUpsert => ({
    name,
    job: 'report',
    input: '{}',
    cron: null,
    intervalMs: 60_000,
    timezone: null,
    options: '{}',
    nextFireAt,
    resetNextFireAt: true,
    ...(tenantId === undefined ? {} : { tenantId }),
  });

  async function migrated(label: string) {
    const prefix = uniquePrefix(label);
    prefixes.push(prefix);
    const { logger, lines } = memoryLogger();
    const storage = new RedisStorage({ url: redisUrl, prefix, logger });
    await storage.migrate();
    return { storage, p: `{${prefix}}:`, lines };
  }

  it('cannot block due reads', async () => {
    const { storage, p, lines } = await migrated('legacy-due');
    try {
      await storage.upsertSchedule(schedule('real', 9_000));
      // Entries due before "real": two upserts of an older process, a hash without a name, and
      // a due entry without a hash. A due read of four returned these four, again and again.
      await writeVersion1Schedule(p, 'daily', { tenantId: 'acme', nextFireAt: 1_000 });
      await writeVersion1Schedule(p, 'acme/weekly', { nextFireAt: 2_000 });
      await writeVersion1Schedule(p, 'nameless', { nextFireAt: 3_000, omit: ['name'] });
      await admin.zadd(`${p}scd`, 4_000, 'gone');
      const batchSize = 4;

      const first = await storage.dueSchedules(batchSize);
      expect(first.map((record) => [record.tenantId, record.name])).toEqual([
        ['acme', 'daily'],
        [null, 'acme/weekly'],
      ]);
      expect(first.map((record) => record.nextFireAt)).toEqual([1_000, 2_000]);
      const later = (await storage.now()) + 3_600_000;
      for (const record of first) {
        const result = await storage.fireSchedule({
          name: record.name,
          tenantId: record.tenantId,
          expectedNextFireAt: record.nextFireAt!,
          nextFireAt: later,
          lastFireAt: record.nextFireAt!,
          runs: [],
        });
        expect(result.fired).toBe(true);
      }
      const second = await storage.dueSchedules(batchSize);
      expect(second.map((record) => [record.tenantId, record.name])).toEqual([[null, 'real']]);

      expect(await admin.exists(`${p}sc:daily`, `${p}sc:acme/weekly`)).toBe(0);
      expect((await admin.zrange(`${p}scd`, '0', '-1')).sort()).toEqual([
        '/acme/weekly',
        '/real',
        'acme/daily',
      ]);
      // The nameless hash stays for an operator to inspect; the entry without a hash is gone.
      expect((await admin.zrange(`${p}scn`, '0', '-1')).sort()).toEqual([
        '/acme/weekly',
        '/real',
        'acme/daily',
        'nameless',
      ]);
      const warnings = lines
        .filter((line) => line.level === 'warn' && line.message.includes('schedule'))
        .map((line) => line.message);
      const older =
        'a process of a release before data layout version 2 wrote it under its old key. Stop ' +
        'every process of the older release';
      expect(warnings).toEqual([
        `Moved schedule ${p}sc:daily to ${p}sc:acme/daily: ${older}`,
        `Moved schedule ${p}sc:acme/weekly to ${p}sc:/acme/weekly: ${older}`,
        `Removed schedule entry "nameless" from the due set ${p}scd: hash ${p}sc:nameless is ` +
          'missing, has no name field, or has a name or tenantId that does not match its key. ' +
          'Correct or delete that hash',
        expect.stringContaining(`Removed schedule entry "gone" from the due set ${p}scd`),
      ]);
    } finally {
      await storage.close();
    }
  });

  it('list reads merge an older upsert', async () => {
    const { storage, p } = await migrated('legacy-list');
    try {
      const original = await storage.upsertSchedule(schedule('daily', 7_000, 'acme'));
      await storage.setSchedulePaused({ name: 'daily', tenantId: 'acme' }, true);
      await storage.upsertSchedule(schedule('hourly', 8_000, 'acme'));
      // The older process declares both again; "hourly" with a new interval.
      await writeVersion1Schedule(p, 'daily', { tenantId: 'acme', input: '{"v":2}' });
      await writeVersion1Schedule(p, 'hourly', {
        tenantId: 'acme',
        input: '{"v":2}',
        intervalMs: '120000',
        nextFireAt: 6_000,
      });
      // "acme/x" without a tenant lies in acme's range of "scn", but is not acme's.
      await writeVersion1Schedule(p, 'acme/x');

      // A tenant's list does not see bare names; the full list moves them.
      expect((await storage.listSchedules({ tenantId: 'acme' })).map((s) => s.name)).toEqual([
        'daily',
        'hourly',
      ]);
      const all = await storage.listSchedules();
      expect(all.map((record) => [record.tenantId, record.name])).toEqual([
        [null, 'acme/x'],
        ['acme', 'daily'],
        ['acme', 'hourly'],
      ]);
      const [, daily, hourly] = all;
      // Same timing: the declaration is replaced, and the stored schedule keeps the rest.
      expect(daily).toMatchObject({ input: '{"v":2}', paused: true, nextFireAt: 7_000 });
      expect(daily?.createdAt).toBe(original.createdAt);
      expect(await admin.zscore(`${p}scd`, 'acme/daily')).toBeNull();
      // A new interval: the older process's next fire time applies, as after an upsert.
      expect(hourly).toMatchObject({ input: '{"v":2}', intervalMs: 120_000, nextFireAt: 6_000 });
      expect(await admin.zscore(`${p}scd`, 'acme/hourly')).toBe('6000');
      expect(await admin.exists(`${p}sc:daily`, `${p}sc:hourly`, `${p}sc:acme/x`)).toBe(0);
      expect(await storage.listSchedules()).toEqual(all);
    } finally {
      await storage.close();
    }
  });
});

describe('connection failures', () => {
  it('surface as StorageError naming the operation', async () => {
    const port = await freePort();
    const storage = new RedisStorage({
      url: `redis://127.0.0.1:${port}`,
      prefix: uniquePrefix(),
      logger: memoryLogger().logger,
      redisOptions: { maxRetriesPerRequest: 0, retryStrategy: () => null },
    });
    const failure = await storage.getRun('missing').catch((error: unknown) => error);
    await storage.close();
    expect(failure).toBeInstanceOf(StorageError);
    expect((failure as StorageError).code).toBe('STORAGE_FAILED');
    expect((failure as StorageError).message).toContain('Storage "redis" failed during getRun');
  });

  it('fail migrate with the connection error', async () => {
    const port = await freePort();
    const storage = new RedisStorage({
      url: `redis://127.0.0.1:${port}`,
      prefix: uniquePrefix(),
      logger: memoryLogger().logger,
      commandTimeoutMs: 2_000,
    });
    const failure = await storage.migrate().catch((error: unknown) => error);
    await storage.close();
    expect(failure).toBeInstanceOf(StorageError);
    const { message } = failure as StorageError;
    expect(message).toContain('failed during migrate: no connection to Redis within 2000 ms');
    expect(message).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
    expect(message).toContain('check the url, cluster or connection option');
  });

  it('let migrate wait for a server that starts late', async () => {
    const server = await PrivateRedis.start(['--save', '']);
    await server.stop();
    const storage = new RedisStorage({
      url: server.url,
      prefix: uniquePrefix(),
      logger: memoryLogger().logger,
    });
    try {
      const migrated = storage.migrate();
      await sleep(300);
      await server.startAgain();
      await migrated;
      expect(await storage.getRun('01900000-0000-7000-8000-000000000000')).toBeNull();
    } finally {
      await storage.close();
      await server.destroy();
    }
  });

  it('surface as StorageError for scripts when the server stops', async () => {
    const server = await PrivateRedis.start(['--save', '']);
    const storage = new RedisStorage({
      url: server.url,
      prefix: uniquePrefix(),
      logger: memoryLogger().logger,
      redisOptions: { maxRetriesPerRequest: 1, retryStrategy: () => 20 },
    });
    await storage.migrate();
    await server.destroy();
    const failure = await storage
      .claim({ workerId: 'w', queues: ['default'], limit: 1, leaseMs: 1000 })
      .catch((error: unknown) => error);
    await storage.close();
    expect(failure).toBeInstanceOf(StorageError);
    expect((failure as StorageError).message).toContain('failed during claim');
  });
});

describe('options', () => {
  it('rejects a prefix with braces', () => {
    expect(() => new RedisStorage({ prefix: 'a{b}' })).toThrow(/Invalid option prefix: "a\{b\}"/);
  });

  it('rejects more than one server', () => {
    expect(
      () =>
        new RedisStorage({
          url: redisUrl,
          cluster: { nodes: [{ host: '127.0.0.1', port: 7000 }] },
        }),
    ).toThrow(/at most one of url, cluster and connection/);
  });

  it('rejects an ioredis keyPrefix', () => {
    expect(() => new RedisStorage({ url: redisUrl, redisOptions: { keyPrefix: 'app:' } })).toThrow(
      /redisOptions\.keyPrefix: "app:"/,
    );
  });

  it('rejects a negative retention age', () => {
    expect(() => new RedisStorage({ url: redisUrl, retention: { completedMs: -1 } })).toThrow(
      /retention\.completedMs/,
    );
  });

  it('uses a given connection and leaves it open', async () => {
    const connection = new Redis(redisUrl);
    const prefix = uniquePrefix('given');
    prefixes.push(prefix);
    const storage = new RedisStorage({ connection, prefix, logger: memoryLogger().logger });
    await storage.migrate();
    const events: string[] = [];
    const unsubscribe = await storage.subscribe({ onWork: () => events.push('work') });
    await storage.insertRuns([
      {
        id: '01900000-0000-7000-8000-000000000003',
        job: 'j',
        queue: 'default',
        input: '{}',
        priority: 0,
        maxAttempts: 1,
        historyLevel: 'off',
      },
    ]);
    await unsubscribe();
    await storage.close();
    expect(events).toEqual(['work']);
    expect(await connection.exists(`{${prefix}}:run:01900000-0000-7000-8000-000000000003`)).toBe(1);
    await connection.quit();
  });
});
