import { StorageError } from '@zapjobs/core/storage';
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
    // Version 1 keyed schedules by name alone: "sc:<name>", with names in "scn" and "scd".
    const write = async (name: string, tenantId: string | null, paused: boolean) => {
      const fields: Record<string, string> = {
        name,
        job: 'report',
        input: '{}',
        options: '{}',
        intervalMs: '60000',
        paused: paused ? '1' : '0',
        nextFireAt: '5000',
        lastFireAt: '4000',
        createdAt: '1',
        updatedAt: '2',
      };
      if (tenantId !== null) fields.tenantId = tenantId;
      await admin.hset(`${p}sc:${name}`, fields);
      await admin.zadd(`${p}scn`, 0, name);
      if (!paused) await admin.zadd(`${p}scd`, 5000, name);
    };
    await admin.hset(`${p}meta`, 'schemaVersion', '1');
    await write('daily', 'acme', false);
    await write('acme/daily', null, true);
    await write('hourly', null, false);

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
