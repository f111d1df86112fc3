import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, expect } from 'vitest';
import type { ClaimedRun, NewRun, Storage } from '../../storage/contract.js';
import type { ConformanceOptions, StorageHandle } from '../options.js';

export { sleep };

/** The storages of the current test: a fresh one, plus extra connections to it. */
export interface Harness {
  /** The fresh storage `create()` made for the current test. */
  readonly storage: Storage;
  /** Opens another connection to the current test's storage; closed after the test. */
  open(): Promise<Storage>;
}

/** Registers hooks that give each test a fresh storage and close everything after it. */
export function useStorage(options: ConformanceOptions): Harness {
  let handle: StorageHandle | null = null;
  const extra: Storage[] = [];

  beforeEach(async () => {
    handle = await options.create();
  });

  afterEach(async () => {
    for (const storage of extra.splice(0)) await storage.close();
    if (handle === null) return;
    const { storage, descriptor } = handle;
    handle = null;
    await storage.close();
    await options.destroy?.(descriptor);
  });

  return {
    get storage(): Storage {
      if (handle === null) throw new Error('No storage: use the harness inside a test.');
      return handle.storage;
    },
    async open(): Promise<Storage> {
      if (handle === null) throw new Error('No storage: use the harness inside a test.');
      const storage = await options.open(handle.descriptor);
      extra.push(storage);
      return storage;
    },
  };
}

let lastMs = 0;
let sequence = 0;

/** Returns a UUIDv7 that sorts after every id this process returned before. */
export function newRunId(): string {
  let ms = Date.now();
  if (ms <= lastMs) {
    ms = lastMs;
    sequence += 1;
    if (sequence > 0xfff) {
      ms += 1;
      sequence = 0;
    }
  } else {
    sequence = 0;
  }
  lastMs = ms;
  const random = randomBytes(8);
  const hex =
    ms.toString(16).padStart(12, '0') +
    '7' +
    sequence.toString(16).padStart(3, '0') +
    ((random[0]! & 0x3f) | 0x80).toString(16).padStart(2, '0') +
    random.subarray(1).toString('hex');
  const groups = [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20)];
  return `${groups.join('-')}-${hex.slice(20)}`;
}

/** Builds a valid run for queue `default` with full history; `overrides` replace any field. */
export function newRun(overrides: Partial<NewRun> = {}): NewRun {
  return {
    id: newRunId(),
    job: 'test-job',
    queue: 'default',
    input: '{"n":1}',
    priority: 0,
    maxAttempts: 3,
    historyLevel: 'full',
    ...overrides,
  };
}

/** Inserts runs and returns their ids, asserting that each was created. */
export async function insert(storage: Storage, ...runs: NewRun[]): Promise<string[]> {
  const results = await storage.insertRuns(runs);
  for (const result of results) expect(result.created).toBe(true);
  return results.map((result) => result.runId);
}

export interface ClaimOptions {
  queues?: readonly string[];
  limit?: number;
  leaseMs?: number;
  workerId?: string;
}

/** Claims with defaults: queue `default`, limit 100, a 30 s lease. */
export function claim(storage: Storage, options: ClaimOptions = {}): Promise<ClaimedRun[]> {
  return storage.claim({
    workerId: options.workerId ?? 'worker-1',
    queues: options.queues ?? ['default'],
    limit: options.limit ?? 100,
    leaseMs: options.leaseMs ?? 30_000,
  });
}

/** Claims exactly one run and returns it, failing the test otherwise. */
export async function claimOne(storage: Storage, options: ClaimOptions = {}): Promise<ClaimedRun> {
  const claimed = await claim(storage, { limit: 1, ...options });
  expect(claimed).toHaveLength(1);
  return claimed[0]!;
}

/** Waits until the storage clock has passed `time`. */
export async function waitForStorageTime(storage: Storage, time: number): Promise<void> {
  for (;;) {
    const now = await storage.now();
    if (now > time) return;
    await sleep(Math.min(50, Math.max(1, time - now + 1)));
  }
}

/** Polls `check` until it returns true, failing after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Lists every event type of a run, oldest first, across all pages. */
export async function eventTypes(storage: Storage, runId: string): Promise<string[]> {
  const types: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.listEvents({ runId, limit: 100, cursor });
    types.push(...page.items.map((event) => event.type));
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  return types;
}

/** Reads a run that must exist, failing the test when it does not. */
export async function mustGetRun(storage: Storage, runId: string) {
  const run = await storage.getRun(runId);
  expect(run).not.toBeNull();
  return run!;
}

/** Returns the lease of a claimed run, as complete, fail and heartbeat take it. */
export function leaseOf(run: ClaimedRun): { runId: string; leaseToken: string } {
  return { runId: run.id, leaseToken: run.leaseToken };
}
