/**
 * The PostgreSQL limit: the claim and complete work of a job queue written directly with
 * `pg`, with no library. Four connections each claim 64 rows with FOR UPDATE SKIP LOCKED and
 * complete them in one UPDATE ... = ANY($1). The scenario's concurrency does not apply.
 */
import pg from 'pg';
import type {
  JobPayload,
  RunContext,
  RunningWorker,
  SystemAdapter,
  WorkerOptions,
} from '../adapter.js';
import { sleep } from '../clock.js';
import { quoteIdent } from '../servers.js';

export const RAW_CONNECTIONS = 4;
export const RAW_CLAIM_BATCH = 64;
/** Pause of a claim loop that found nothing to claim. */
const IDLE_PAUSE_MS = 5;

export function createRawPostgresAdapter() {
  return (context: RunContext): SystemAdapter => new RawPostgresAdapter(context);
}

class RawPostgresAdapter implements SystemAdapter {
  private pool: pg.Pool | null = null;
  private readonly table: string;

  constructor(private readonly context: RunContext) {
    this.table = `${quoteIdent(context.pgSchema)}.jobs`;
  }

  async setup(): Promise<void> {
    await this.open();
    const schema = quoteIdent(this.context.pgSchema);
    await this.client.query(`CREATE SCHEMA ${schema}`);
    await this.client.query(
      `CREATE TABLE ${this.table} (
         id bigserial PRIMARY KEY,
         payload jsonb NOT NULL,
         state text NOT NULL DEFAULT 'available',
         started_at timestamptz,
         finished_at timestamptz)`,
    );
    await this.client.query(`CREATE INDEX ON ${this.table} (id) WHERE state = 'available'`);
  }

  async open(): Promise<void> {
    this.pool = new pg.Pool({ connectionString: this.context.pgUrl, max: RAW_CONNECTIONS + 1 });
  }

  private get client(): pg.Pool {
    if (!this.pool) throw new Error('raw PostgreSQL pool used before setup() or open()');
    return this.pool;
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await this.client.query(`INSERT INTO ${this.table} (payload) VALUES ($1)`, [payload]);
  }

  async enqueueMany(payloads: JobPayload[]): Promise<void> {
    await this.client.query(`INSERT INTO ${this.table} (payload) SELECT unnest($1::jsonb[])`, [
      payloads.map((payload) => JSON.stringify(payload)),
    ]);
  }

  async enqueueDelayed(): Promise<void> {
    throw new Error('the raw PostgreSQL limit has no delayed jobs');
  }

  async remaining(): Promise<number> {
    const { rows } = await this.client.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM ${this.table} WHERE state <> 'completed'`,
    );
    return rows[0]!.count;
  }

  async startWorker(options: WorkerOptions): Promise<RunningWorker> {
    let stopping = false;
    const claim = `UPDATE ${this.table} SET state = 'running', started_at = now()
      WHERE id IN (SELECT id FROM ${this.table} WHERE state = 'available'
                   ORDER BY id LIMIT ${RAW_CLAIM_BATCH} FOR UPDATE SKIP LOCKED)
      RETURNING id, payload`;
    const complete = `UPDATE ${this.table} SET state = 'completed', finished_at = now()
      WHERE id = ANY($1)`;

    const loop = async (): Promise<void> => {
      const connection = await this.client.connect();
      try {
        while (!stopping) {
          const { rows } = await connection.query<{ id: string; payload: JobPayload }>(claim);
          if (rows.length === 0) {
            await sleep(IDLE_PAUSE_MS);
            continue;
          }
          for (const row of rows) options.handler(row.payload);
          await connection.query(complete, [rows.map((row) => row.id)]);
        }
      } finally {
        connection.release();
      }
    };

    const loops = Array.from({ length: RAW_CONNECTIONS }, () => loop());
    return {
      stop: async () => {
        stopping = true;
        await Promise.all(loops);
      },
    };
  }

  async close(): Promise<void> {
    await this.pool?.end();
    this.pool = null;
  }

  async teardown(): Promise<void> {}
}
