import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type {
  JobPayload,
  RunContext,
  RunningWorker,
  SystemAdapter,
  WorkerOptions,
} from '../adapter.js';
import { quoteIdent } from '../servers.js';

const QUEUE = 'bench';

/**
 * pg-boss 12. Default: `localConcurrency` = c with one job per fetch and the 2 s poll.
 * Best: one poller fetching `batchSize` = c jobs, `burstWhenBatchFull`, and LISTEN/NOTIFY
 * (`useListenNotify` plus the queue's `notify`).
 */
export function createPgBossAdapter(best: boolean) {
  return (context: RunContext): SystemAdapter => new PgBossAdapter(context, best);
}

class PgBossAdapter implements SystemAdapter {
  private boss: PgBoss | null = null;
  private pool: pg.Pool | null = null;

  constructor(
    private readonly context: RunContext,
    private readonly best: boolean,
  ) {}

  private async start(): Promise<PgBoss> {
    const boss = new PgBoss({
      connectionString: this.context.pgUrl,
      schema: this.context.pgSchema,
      useListenNotify: this.best,
    });
    boss.on('error', (error) => console.error('pg-boss:', error));
    await boss.start();
    this.boss = boss;
    return boss;
  }

  async setup(): Promise<void> {
    const boss = await this.start();
    await boss.createQueue(QUEUE, this.best ? { notify: true } : {});
    this.pool = new pg.Pool({ connectionString: this.context.pgUrl, max: 1 });
  }

  async open(): Promise<void> {
    await this.start();
  }

  private get client(): PgBoss {
    if (!this.boss) throw new Error('pg-boss used before setup() or open()');
    return this.boss;
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await this.client.send(QUEUE, payload);
  }

  async enqueueMany(payloads: JobPayload[]): Promise<void> {
    await this.client.insert(
      QUEUE,
      payloads.map((data) => ({ data })),
    );
  }

  async enqueueDelayed(payload: JobPayload, delayMs: number): Promise<void> {
    await this.client.send(QUEUE, payload, { startAfter: new Date(payload.sentAt + delayMs) });
  }

  async remaining(): Promise<number> {
    if (!this.pool) throw new Error('pg-boss remaining() called before setup()');
    const { rows } = await this.pool.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM ${quoteIdent(this.context.pgSchema)}.job
       WHERE name = $1 AND state <> 'completed'`,
      [QUEUE],
    );
    return rows[0]!.count;
  }

  async startWorker(options: WorkerOptions): Promise<RunningWorker> {
    const boss = this.client;
    const workOptions = this.best
      ? { batchSize: options.concurrency, burstWhenBatchFull: true }
      : { localConcurrency: options.concurrency };
    await boss.work<JobPayload>(QUEUE, workOptions, async (jobs) => {
      for (const job of jobs) options.handler(job.data);
    });
    return { stop: () => boss.offWork(QUEUE) };
  }

  async close(): Promise<void> {
    await this.boss?.stop({ graceful: false, close: true });
    this.boss = null;
    await this.pool?.end();
    this.pool = null;
  }

  async teardown(): Promise<void> {}
}
