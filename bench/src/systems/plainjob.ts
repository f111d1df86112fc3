import Database from 'better-sqlite3-12';
import { better, defineQueue, defineWorker, JobStatus, type Queue } from 'plainjob';
import type {
  JobPayload,
  RunContext,
  RunningWorker,
  SystemAdapter,
  WorkerOptions,
} from '../adapter.js';

const JOB_TYPE = 'bench';

/** Passes plainjob's warnings and errors on and drops its info and debug lines. */
const quietLogger = {
  error: (message: string, ...meta: unknown[]) => console.error('plainjob:', message, ...meta),
  warn: (message: string, ...meta: unknown[]) => console.warn('plainjob:', message, ...meta),
  info: () => {},
  debug: () => {},
};

/**
 * plainjob 0.0.14 on better-sqlite3 12. A plainjob worker runs one job at a time, so
 * concurrency c means c workers on one connection. Default: the 1,000 ms poll; best: 10 ms.
 */
export function createPlainjobAdapter(best: boolean) {
  return (context: RunContext): SystemAdapter => new PlainjobAdapter(context, best);
}

class PlainjobAdapter implements SystemAdapter {
  private database: Database.Database | null = null;
  private queue: Queue | null = null;

  constructor(
    private readonly context: RunContext,
    private readonly best: boolean,
  ) {}

  async setup(): Promise<void> {
    this.database = new Database(this.context.sqlitePath);
    this.queue = defineQueue({ connection: better(this.database), logger: quietLogger });
  }

  async open(): Promise<void> {
    await this.setup();
  }

  private get client(): Queue {
    if (!this.queue) throw new Error('plainjob queue used before setup() or open()');
    return this.queue;
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    this.client.add(JOB_TYPE, payload);
  }

  async enqueueMany(payloads: JobPayload[]): Promise<void> {
    this.client.addMany(JOB_TYPE, payloads);
  }

  async enqueueDelayed(payload: JobPayload, delayMs: number): Promise<void> {
    this.client.add(JOB_TYPE, payload, { delay: Math.round(delayMs) });
  }

  async remaining(): Promise<number> {
    const pending = this.client.countJobs({ type: JOB_TYPE, status: JobStatus.Pending });
    const running = this.client.countJobs({ type: JOB_TYPE, status: JobStatus.Processing });
    return pending + running;
  }

  async startWorker(options: WorkerOptions): Promise<RunningWorker> {
    const queue = this.client;
    const workers = Array.from({ length: options.concurrency }, () =>
      defineWorker(JOB_TYPE, (job) => options.handler(JSON.parse(job.data) as JobPayload), {
        queue,
        logger: quietLogger,
        ...(this.best ? { pollIntervall: 10 } : {}),
      }),
    );
    const running = workers.map((worker) => worker.start());
    return {
      stop: async () => {
        await Promise.all(workers.map((worker) => worker.stop()));
        await Promise.all(running);
      },
    };
  }

  async close(): Promise<void> {
    this.queue?.close();
    this.queue = null;
    this.database?.close();
    this.database = null;
  }

  async teardown(): Promise<void> {}
}
