import {
  type AnyJob,
  consoleLogger,
  defineJob,
  type Storage,
  WaitTimeoutError,
  ZapJobs,
} from '@zapjobs/core';
import { Type } from 'typebox';
import type {
  JobPayload,
  RunContext,
  RunningWorker,
  SystemAdapter,
  WorkerOptions,
} from '../adapter.js';

const QUEUE = 'bench';

/** Builds the storage of a run; called once in the runner and once per worker process. */
export type StorageFactory = (context: RunContext) => Storage | Promise<Storage>;

const payloadSchema = Type.Object({
  sentAt: Type.Number(),
  dueAt: Type.Optional(Type.Number()),
  cpuRounds: Type.Optional(Type.Integer()),
  sample: Type.Optional(Type.Union([Type.Literal('latency'), Type.Literal('lateness')])),
});

/**
 * ZapJobs on any backend. `fast` records no run history (`historyLevel: 'off'`), the fastest
 * level; the default records the full history. `prefetch` is the worker option of that name
 * (runs claimed ahead of free slots); 0, the default, claims only into free slots.
 */
export function createZapjobsAdapter(makeStorage: StorageFactory, fast: boolean, prefetch = 0) {
  return (context: RunContext): SystemAdapter =>
    new ZapjobsAdapter(context, makeStorage, fast, prefetch);
}

class ZapjobsAdapter implements SystemAdapter {
  private client: ZapJobs | null = null;
  private handler: WorkerOptions['handler'] | null = null;
  private readonly job: AnyJob;

  constructor(
    private readonly context: RunContext,
    private readonly makeStorage: StorageFactory,
    fast: boolean,
    private readonly prefetch: number,
  ) {
    this.job = defineJob({
      name: 'bench',
      input: payloadSchema,
      output: Type.Null(),
      defaults: { queue: QUEUE, ...(fast ? { historyLevel: 'off' as const } : {}) },
      handler: (input) => {
        this.handler?.(input);
        return null;
      },
    });
  }

  private async connect(): Promise<ZapJobs> {
    const storage = await this.makeStorage(this.context);
    const client = new ZapJobs({ storage, jobs: [this.job], logger: consoleLogger('warn') });
    await client.init();
    this.client = client;
    return client;
  }

  async setup(): Promise<void> {
    await this.connect();
  }

  async open(): Promise<void> {
    await this.connect();
  }

  private get zap(): ZapJobs {
    if (!this.client) throw new Error('ZapJobs client used before setup() or open()');
    return this.client;
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await this.zap.enqueue(this.job, payload);
  }

  async enqueueMany(payloads: JobPayload[]): Promise<void> {
    await this.zap.enqueueMany(payloads.map((input) => ({ job: this.job, input })));
  }

  async enqueueDelayed(payload: JobPayload, delayMs: number): Promise<void> {
    await this.zap.enqueue(this.job, payload, { delayMs: Math.round(delayMs) });
  }

  async enqueueAndWait(payload: JobPayload, timeoutMs: number): Promise<boolean> {
    try {
      await this.zap.enqueueAndWait(this.job, payload, { timeoutMs: Math.ceil(timeoutMs) });
      return true;
    } catch (error) {
      if (error instanceof WaitTimeoutError) return false;
      throw error;
    }
  }

  async remaining(): Promise<number> {
    const counts = await this.zap.countRuns({ queue: QUEUE });
    let total = 0;
    for (const [state, count] of Object.entries(counts)) {
      if (state !== 'completed') total += count;
    }
    return total;
  }

  async startWorker(options: WorkerOptions): Promise<RunningWorker> {
    this.handler = options.handler;
    const worker = this.zap.createWorker({
      queues: [QUEUE],
      concurrency: options.concurrency,
      prefetch: this.prefetch,
    });
    await worker.start();
    return { stop: () => worker.stop() };
  }

  async close(): Promise<void> {
    await this.client?.close();
    this.client = null;
  }

  async teardown(): Promise<void> {}
}
