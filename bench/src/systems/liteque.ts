import { buildDBClient, Runner, SqliteQueue } from 'liteque';
import {
  enqueueUnbatched,
  type JobPayload,
  type RunContext,
  type RunningWorker,
  type SystemAdapter,
  type WorkerOptions,
} from '../adapter.js';

type Database = ReturnType<typeof buildDBClient>;

/**
 * liteque 0.8 on better-sqlite3 11.9.1. liteque has no defaults for its runner; `default`
 * uses the values of its README example (1,000 ms poll), `best` a 10 ms poll.
 */
export function createLitequeAdapter(best: boolean) {
  return (context: RunContext): SystemAdapter => new LitequeAdapter(context, best);
}

class LitequeAdapter implements SystemAdapter {
  private database: Database | null = null;
  private queue: SqliteQueue<JobPayload> | null = null;

  constructor(
    private readonly context: RunContext,
    private readonly best: boolean,
  ) {}

  private connect(runMigrations: boolean): void {
    this.database = buildDBClient(this.context.sqlitePath, { runMigrations });
    this.queue = new SqliteQueue<JobPayload>('bench', this.database, {
      defaultJobArgs: { numRetries: 2 },
      keepFailedJobs: false,
    });
  }

  async setup(): Promise<void> {
    this.connect(true);
  }

  async open(): Promise<void> {
    this.connect(false);
  }

  private get client(): SqliteQueue<JobPayload> {
    if (!this.queue) throw new Error('liteque queue used before setup() or open()');
    return this.queue;
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await this.client.enqueue(payload);
  }

  /** liteque has no bulk API. */
  async enqueueMany(payloads: JobPayload[]): Promise<void> {
    await enqueueUnbatched(payloads, (payload) => this.enqueueOne(payload));
  }

  async enqueueDelayed(payload: JobPayload, delayMs: number): Promise<void> {
    await this.client.enqueue(payload, { delayMs: Math.round(delayMs) });
  }

  async remaining(): Promise<number> {
    // liteque deletes a job when it completes, so every counted row is unfinished.
    const stats = await this.client.stats();
    return stats.pending + stats.pending_retry + stats.running;
  }

  async startWorker(options: WorkerOptions): Promise<RunningWorker> {
    const runner = new Runner<JobPayload>(
      this.client,
      { run: async (job) => options.handler(job.data) },
      {
        concurrency: options.concurrency,
        pollIntervalMs: this.best ? 10 : 1000,
        timeoutSecs: 60,
      },
    );
    const running = runner.run();
    return {
      stop: async () => {
        runner.stop();
        await running;
      },
    };
  }

  async close(): Promise<void> {
    // drizzle-orm 0.33, which liteque 0.8 uses, keeps the better-sqlite3 handle on its session.
    const session = (this.database as unknown as { session?: { client?: { close(): void } } })
      ?.session;
    session?.client?.close();
    this.database = null;
    this.queue = null;
  }

  async teardown(): Promise<void> {}
}
