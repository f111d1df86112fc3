import { Logger, makeWorkerUtils, type Runner, run, type WorkerUtils } from 'graphile-worker';
import type {
  JobPayload,
  RunContext,
  RunningWorker,
  SystemAdapter,
  WorkerOptions,
} from '../adapter.js';
import { quoteIdent } from '../servers.js';

/** Logs graphile-worker's errors and drops its info and debug lines. */
const errorsOnly = new Logger(() => (level, message) => {
  if (level === 'error') console.error(`graphile-worker: ${message}`);
});

/** graphile-worker 0.18: `best` turns on the local queue and immediate batched completion. */
export function createGraphileAdapter(best: boolean) {
  return (context: RunContext): SystemAdapter => new GraphileAdapter(context, best);
}

class GraphileAdapter implements SystemAdapter {
  private utils: WorkerUtils | null = null;

  constructor(
    private readonly context: RunContext,
    private readonly best: boolean,
  ) {}

  private get shared() {
    return {
      connectionString: this.context.pgUrl,
      schema: this.context.pgSchema,
      logger: errorsOnly,
    };
  }

  async setup(): Promise<void> {
    this.utils = await makeWorkerUtils(this.shared);
    await this.utils.migrate();
  }

  async open(): Promise<void> {}

  private get client(): WorkerUtils {
    if (!this.utils) throw new Error('graphile-worker utils used before setup()');
    return this.utils;
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await this.client.addJob('bench', payload);
  }

  async enqueueMany(payloads: JobPayload[]): Promise<void> {
    await this.client.addJobs(payloads.map((payload) => ({ identifier: 'bench', payload })));
  }

  async enqueueDelayed(payload: JobPayload, delayMs: number): Promise<void> {
    await this.client.addJob('bench', payload, { runAt: new Date(payload.sentAt + delayMs) });
  }

  async remaining(): Promise<number> {
    // graphile-worker deletes a job when it completes, so every row left is unfinished.
    const table = `${quoteIdent(this.context.pgSchema)}._private_jobs`;
    return this.client.withPgClient(async (client) => {
      const { rows } = await client.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM ${table}`,
      );
      return rows[0]!.count;
    });
  }

  async startWorker(options: WorkerOptions): Promise<RunningWorker> {
    const runner: Runner = await run({
      ...this.shared,
      concurrency: options.concurrency,
      noHandleSignals: true,
      taskList: {
        bench: async (payload) => options.handler(payload as JobPayload),
      },
      ...(this.best
        ? {
            // The pool size graphile-worker's documentation recommends: concurrency + 2, at least 10.
            maxPoolSize: Math.max(10, options.concurrency + 2),
            preset: {
              worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
            },
          }
        : {}),
    });
    return { stop: () => runner.stop() };
  }

  async close(): Promise<void> {
    await this.utils?.release();
    this.utils = null;
  }

  async teardown(): Promise<void> {}
}
