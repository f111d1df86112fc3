import { setTimeout as sleep } from 'node:timers/promises';
import type { NewRun, RunState } from '@zapjobs/core/storage';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';
import {
  deleteNamespace,
  memoryLogger,
  redisUrl,
  requireRedis,
  uniquePrefix,
} from './helpers/redis.js';

// Paths the conformance suite reaches only lightly: state filters served by the lease set and
// by queue scans, pages cut short by the examine limit, batched index writes inside one
// script, and wake-ups this storage times itself.

let admin: Redis;
let storage: RedisStorage;
let prefix: string;
let sequence = 0;

beforeAll(async () => {
  await requireRedis();
  admin = new Redis(redisUrl);
});

afterAll(async () => {
  await admin?.quit();
});

beforeEach(async () => {
  prefix = uniquePrefix('indexes');
  storage = new RedisStorage({ url: redisUrl, prefix, logger: memoryLogger().logger });
  await storage.migrate();
});

afterEach(async () => {
  await storage.close();
  await deleteNamespace(admin, prefix);
});

function newRun(overrides: Partial<NewRun> = {}): NewRun {
  sequence++;
  return {
    id: `01900000-0000-7000-8000-${sequence.toString(16).padStart(12, '0')}`,
    job: 'job',
    queue: 'default',
    input: '{}',
    priority: 0,
    maxAttempts: 1,
    historyLevel: 'full',
    ...overrides,
  };
}

/** Polls until `check` returns true, failing after five seconds. */
async function waitFor(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function listIds(states: RunState[], order: 'asc' | 'desc', queue?: string) {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.listRuns({ states, queue }, { limit: 2, order, cursor });
    ids.push(...page.items.map((run) => run.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return ids;
}

describe('listRuns by state', () => {
  it('pages running runs from the lease set', async () => {
    const runs = [newRun(), newRun(), newRun(), newRun(), newRun()];
    await storage.insertRuns(runs);
    const claimed = await storage.claim({
      workerId: 'w',
      queues: ['default'],
      limit: 3,
      leaseMs: 60_000,
    });
    const running = claimed.map((run) => run.id).sort();
    expect(await listIds(['running'], 'asc')).toEqual(running);
    expect(await listIds(['running'], 'desc')).toEqual([...running].reverse());
    expect(await listIds(['running', 'available'], 'asc')).toEqual(runs.map((run) => run.id));
  });

  it('mixes indexed and scanned states', async () => {
    const runs = [newRun(), newRun({ queue: 'other' }), newRun(), newRun({ delayMs: 60_000 })];
    await storage.insertRuns(runs);
    await storage.cancel(runs[0]!.id);
    const [claimed] = await storage.claim({
      workerId: 'w',
      queues: ['default'],
      limit: 1,
      leaseMs: 60_000,
    });
    await storage.complete([{ runId: claimed!.id, leaseToken: claimed!.leaseToken, output: '1' }]);

    expect(claimed!.id).toBe(runs[2]!.id);
    expect(await listIds(['cancelled', 'completed'], 'asc')).toEqual([runs[0]!.id, runs[2]!.id]);
    expect(await listIds(['scheduled'], 'desc')).toEqual([runs[3]!.id]);
    expect(await listIds(['available'], 'asc', 'other')).toEqual([runs[1]!.id]);
    expect(await listIds(['available'], 'asc', 'default')).toEqual([]);
    const counts = await storage.countRuns({});
    expect(counts).toMatchObject({ available: 1, completed: 1, cancelled: 1, scheduled: 1 });
    expect(await storage.countRuns({ queue: 'other' })).toMatchObject({ available: 1 });
  });
});

describe('pages cut short', () => {
  it('listEvents continues past the examine limit', async () => {
    // 6,000 runs with one `enqueued` event each, then one custom event at the end.
    for (let first = 0; first < 6_000; first += 1_000) {
      await storage.insertRuns(Array.from({ length: 1_000 }, () => newRun()));
    }
    const last = newRun();
    await storage.insertRuns([last]);
    await storage.appendEvents([{ runId: last.id, type: 'marker', data: '"end"' }]);

    const found: string[] = [];
    let pages = 0;
    let cursor: string | undefined;
    do {
      const page = await storage.listEvents({ types: ['marker'], limit: 10, cursor });
      found.push(...page.items.map((event) => event.runId));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor !== undefined);
    expect(found).toEqual([last.id]);
    expect(pages).toBeGreaterThan(1);
  });
});

describe('tenant filters', () => {
  it('listEvents and reclaimExpired carry the tenant', async () => {
    const ofA = newRun({ tenantId: 'tenant-a' });
    const ofB = newRun({ tenantId: 'tenant-b' });
    await storage.insertRuns([ofA, ofB]);
    const events = await storage.listEvents({ tenantId: 'tenant-a', limit: 10 });
    expect(events.items.map((event) => [event.runId, event.tenantId])).toEqual([
      [ofA.id, 'tenant-a'],
    ]);

    await storage.claim({ workerId: 'w', queues: ['default'], limit: 2, leaseMs: 1 });
    await sleep(20);
    const reclaimed = await storage.reclaimExpired(10);
    const tenants = reclaimed.map((run) => [run.runId, run.tenantId]);
    expect(tenants).toEqual([
      [ofA.id, 'tenant-a'],
      [ofB.id, 'tenant-b'],
    ]);
  });
});

describe('batched index writes', () => {
  it('replace inside one insert leaves no stale ready entry', async () => {
    const unique = {
      key: 'debounce',
      releaseOn: 'finish' as const,
      onConflict: 'replace' as const,
    };
    const first = newRun({ unique, input: '{"v":1}' });
    const second = newRun({ unique, input: '{"v":2}', delayMs: 60_000 });
    const results = await storage.insertRuns([first, second]);

    expect(results[1]).toMatchObject({ runId: first.id, created: false, replaced: true });
    expect(results[1]!.state).toBe('scheduled');
    const claimed = await storage.claim({
      workerId: 'w',
      queues: ['default'],
      limit: 10,
      leaseMs: 1_000,
    });
    expect(claimed).toEqual([]);
    const run = await storage.getRun(first.id);
    expect(run?.input).toBe('{"v":2}');
    expect(run?.state).toBe('scheduled');
    expect(await admin.zcard(`{${prefix}}:r:default`)).toBe(0);
  });
});

describe('timed wake-ups', () => {
  it('onWork fires when a delayed run comes due', async () => {
    const calls: number[] = [];
    const off = await storage.subscribe({ onWork: () => calls.push(Date.now()) });
    const start = Date.now();
    await storage.insertRuns([newRun({ delayMs: 300 })]);
    await sleep(150);
    const before = calls.length;
    await waitFor('onWork', () => calls.length > 0);
    await off();
    expect(before).toBe(0);
    expect(calls).toHaveLength(1);
    expect(calls[0]! - start).toBeGreaterThanOrEqual(250);
  });

  it('onWork fires when a rate window frees a slot', async () => {
    await storage.setLimit({ scope: 'queue', key: 'default', rate: { limit: 1, periodMs: 300 } });
    await storage.insertRuns([newRun(), newRun()]);
    const claim = () =>
      storage.claim({ workerId: 'w', queues: ['default'], limit: 2, leaseMs: 60_000 });
    expect(await claim()).toHaveLength(1);

    const calls: Array<readonly string[] | null> = [];
    const off = await storage.subscribe({ onWork: (queues) => calls.push(queues) });
    expect(await claim()).toHaveLength(0);
    await waitFor('onWork', () => calls.length > 0);
    await off();
    expect(calls).toEqual([['default']]);
    expect(await claim()).toHaveLength(1);
  });

  it('onWork fires when a concurrency slot frees', async () => {
    await storage.setLimit({ scope: 'queue', key: 'default', concurrency: 1 });
    await storage.insertRuns([newRun(), newRun()]);
    const claim = () =>
      storage.claim({ workerId: 'w', queues: ['default'], limit: 2, leaseMs: 60_000 });
    const [held] = await claim();
    expect(await claim()).toHaveLength(0);

    const calls: Array<readonly string[] | null> = [];
    const off = await storage.subscribe({ onWork: (queues) => calls.push(queues) });
    await storage.complete([{ runId: held!.id, leaseToken: held!.leaseToken, output: '1' }]);
    await off();
    expect(calls).toEqual([['default']]);
    expect(await claim()).toHaveLength(1);
  });
});
