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

/** The ZapJobs settings of one benchmark configuration. */
export interface ZapjobsSettings {
  /** Records no run history (`historyLevel: 'off'`), the fastest level, instead of all of it. */
  fast: boolean;
  /** The worker option `prefetch`: runs claimed ahead of free slots. 0 claims into free slots. */
  prefetch: number;
  /**
   * Deletes each run when it completes (the job option `removeOnComplete`). The relay scenario
   * waits for results, so its runs are kept.
   */
  removeOnComplete: boolean;
}

/** ZapJobs on any backend, with the storage `makeStorage` builds. */
export function createZapjobsAdapter(makeStorage: StorageFactory, settings: ZapjobsSettings) {
  return (context: RunContext): SystemAdapter => new ZapjobsAdapter(context, makeStorage, settings);
}

class ZapjobsAdapter implements SystemAdapter {
  private client: ZapJobs | null = null;
  private handler: WorkerOptions['handler'] | null = null;
  private readonly job: AnyJob;

  private readonly prefetch: number;

  constructor(
    private readonly context: RunContext,
    private readonly makeStorage: StorageFactory,
    { fast, prefetch, removeOnComplete }: ZapjobsSettings,
  ) {
    this.prefetch = prefetch;
    this.job = defineJob({
      name: 'bench',
      input: payloadSchema,
      output: Type.Null(),
      defaults: {
        queue: QUEUE,
        ...(fast ? { historyLevel: 'off' as const } : {}),
        ...(removeOnComplete ? { removeOnComplete: true } : {}),
      },
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
      await this.zap.enqueueAndWait(this.job, payload, {
        timeoutMs: Math.ceil(timeoutMs),
        removeOnComplete: false,
      });
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
