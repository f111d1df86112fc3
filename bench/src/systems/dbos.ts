import { DBOS } from '@dbos-inc/dbos-sdk';
import pg from 'pg';
import {
  enqueueUnbatched,
  type JobPayload,
  type RunContext,
  type RunningWorker,
  type SystemAdapter,
  type WorkerOptions,
} from '../adapter.js';
import { quoteIdent } from '../servers.js';

const QUEUE = 'bench';
const WORKFLOW = 'bench';
/** Runner and workers declare the same application version, so workers dequeue every job. */
const APP_VERSION = 'zjbench';

/**
 * DBOS Transact 5: each job is a workflow enqueued on a database-backed workflow queue with
 * `workerConcurrency` = c. Default: the queue's 1,000 ms minimum poll; best: 10 ms. DBOS is a
 * process-wide singleton, so the runner launches it without dispatching any queue.
 */
export function createDbosAdapter(best: boolean) {
  return (context: RunContext): SystemAdapter => new DbosAdapter(context, best);
}

class DbosAdapter implements SystemAdapter {
  private pool: pg.Pool | null = null;
  private launched = false;

  constructor(
    private readonly context: RunContext,
    private readonly best: boolean,
  ) {}

  private configure(listenQueues: string[] | undefined): void {
    DBOS.setConfig({
      name: 'zjbench',
      systemDatabaseUrl: this.context.pgUrl,
      systemDatabaseSchemaName: this.context.pgSchema,
      applicationVersion: APP_VERSION,
      logLevel: 'warn',
      ...(listenQueues ? { listenQueues } : {}),
    });
  }

  async setup(): Promise<void> {
    this.configure([]);
    await DBOS.launch();
    this.launched = true;
    await DBOS.registerQueue(QUEUE, {
      workerConcurrency: this.context.concurrency,
      ...(this.best ? { minPollingIntervalMs: 10 } : {}),
      onConflict: 'always_update',
    });
    this.pool = new pg.Pool({ connectionString: this.context.pgUrl, max: 1 });
  }

  async open(): Promise<void> {}

  async enqueueOne(payload: JobPayload): Promise<void> {
    await DBOS.enqueueWorkflowWithOptions({ queueName: QUEUE, workflowName: WORKFLOW }, payload);
  }

  /** DBOS has no bulk enqueue. */
  async enqueueMany(payloads: JobPayload[]): Promise<void> {
    await enqueueUnbatched(payloads, (payload) => this.enqueueOne(payload));
  }

  async enqueueDelayed(payload: JobPayload, delayMs: number): Promise<void> {
    // DBOS 5.3 rejects a delay whose milliseconds are not a whole number ("invalid input syntax
    // for type bigint"), so the delay is rounded to 1/8 s, which binary floating point holds
    // exactly, and the due time moves with it.
    const delaySeconds = Math.max(1, Math.round(delayMs / 125)) / 8;
    await DBOS.enqueueWorkflowWithOptions(
      { queueName: QUEUE, workflowName: WORKFLOW, delaySeconds },
      { ...payload, dueAt: payload.sentAt + delaySeconds * 1000 },
    );
  }

  async remaining(): Promise<number> {
    if (!this.pool) throw new Error('DBOS remaining() called before setup()');
    const { rows } = await this.pool.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM ${quoteIdent(this.context.pgSchema)}.workflow_status
       WHERE name = $1 AND status <> 'SUCCESS'`,
      [WORKFLOW],
    );
    return rows[0]!.count;
  }

  async startWorker(options: WorkerOptions): Promise<RunningWorker> {
    this.configure(undefined);
    DBOS.registerWorkflow(async (payload: JobPayload) => options.handler(payload), {
      name: WORKFLOW,
    });
    await DBOS.launch();
    this.launched = true;
    return { stop: () => this.close() };
  }

  async close(): Promise<void> {
    if (this.launched) {
      this.launched = false;
      await DBOS.shutdown();
    }
    await this.pool?.end();
    this.pool = null;
  }

  async teardown(): Promise<void> {}
}
