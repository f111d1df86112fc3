import { createPostgresBackend, Queue, Worker, withBackend } from 'bullmq';
import { Redis } from 'ioredis';
import type {
  JobPayload,
  RunContext,
  RunningWorker,
  SystemAdapter,
  WorkerOptions,
} from '../adapter.js';

const QUEUE = 'bench';
const UNFINISHED = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/** Worker options of the `best` configuration: auto-removal of finished jobs, as BullMQ's
 * production guide recommends, so completed jobs do not accumulate in the store. */
const BEST_WORKER_OPTIONS = {
  removeOnComplete: { count: 0 },
  removeOnFail: { count: 5000 },
};

interface BullQueue {
  add(name: string, data: JobPayload, options?: { delay?: number }): Promise<unknown>;
  addBulk(jobs: { name: string; data: JobPayload }[]): Promise<unknown>;
  getJobCountByTypes(...types: (typeof UNFINISHED)[number][]): Promise<number>;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}

interface Backend {
  createQueue(migrate: boolean): BullQueue;
  createWorker(
    options: WorkerOptions,
    best: boolean,
  ): { close(): Promise<void> } & {
    waitUntilReady(): Promise<unknown>;
  };
}

/** BullMQ 6 on Redis; the key prefix isolates the run. */
function redisBackend(context: RunContext): Backend {
  const connection = () => new Redis(context.redisUrl, { maxRetriesPerRequest: null });
  return {
    createQueue: () => new Queue(QUEUE, { connection: connection(), prefix: context.redisPrefix }),
    createWorker: (options, best) =>
      new Worker(QUEUE, async (job) => options.handler(job.data as JobPayload), {
        connection: connection(),
        prefix: context.redisPrefix,
        concurrency: options.concurrency,
        ...(best ? BEST_WORKER_OPTIONS : {}),
      }),
  };
}

/** BullMQ 6 on its PostgreSQL backend; the schema isolates the run. */
function postgresBackend(context: RunContext): Backend {
  const classes = withBackend(createPostgresBackend);
  const connection = (migrate: boolean) => ({
    connectionString: context.pgUrl,
    schema: context.pgSchema,
    ...(migrate ? { migrate: true } : {}),
  });
  return {
    createQueue: (migrate) => new classes.Queue(QUEUE, { connection: connection(migrate) }),
    createWorker: (options, best) =>
      new classes.Worker(QUEUE, async (job) => options.handler(job.data as JobPayload), {
        connection: connection(false),
        concurrency: options.concurrency,
        ...(best ? BEST_WORKER_OPTIONS : {}),
      }),
  };
}

export function createBullmqAdapter(store: 'redis' | 'postgres', best: boolean) {
  return (context: RunContext): SystemAdapter => {
    const backend = store === 'redis' ? redisBackend(context) : postgresBackend(context);
    return new BullmqAdapter(backend, best);
  };
}

class BullmqAdapter implements SystemAdapter {
  private queue: BullQueue | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly best: boolean,
  ) {}

  async setup(): Promise<void> {
    this.queue = this.backend.createQueue(true);
    await this.queue.waitUntilReady();
  }

  async open(): Promise<void> {}

  private get client(): BullQueue {
    if (!this.queue) throw new Error('BullMQ queue used before setup()');
    return this.queue;
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await this.client.add(QUEUE, payload);
  }

  async enqueueMany(payloads: JobPayload[]): Promise<void> {
    await this.client.addBulk(payloads.map((data) => ({ name: QUEUE, data })));
  }

  async enqueueDelayed(payload: JobPayload, delayMs: number): Promise<void> {
    await this.client.add(QUEUE, payload, { delay: Math.round(delayMs) });
  }

  remaining(): Promise<number> {
    return this.client.getJobCountByTypes(...UNFINISHED);
  }

  async startWorker(options: WorkerOptions): Promise<RunningWorker> {
    const worker = this.backend.createWorker(options, this.best);
    await worker.waitUntilReady();
    return { stop: () => worker.close() };
  }

  async close(): Promise<void> {
    await this.queue?.close();
    this.queue = null;
  }

  async teardown(): Promise<void> {}
}
