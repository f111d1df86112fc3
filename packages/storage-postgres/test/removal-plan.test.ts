import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStorage } from '../src/index.js';
import {
  createSchemaStorage,
  dropSchema,
  newRun,
  PG_URL,
  type PostgresDescriptor,
  requirePostgres,
} from './helpers.js';

const reachable = await requirePostgres();

describe.skipIf(!reachable)('completion with remove', () => {
  let storage: PostgresStorage;
  let descriptor: PostgresDescriptor;
  let client: pg.Client;

  beforeAll(async () => {
    ({ storage, descriptor } = await createSchemaStorage());
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
  });

  afterAll(async () => {
    await client.end();
    await storage.close();
    await dropSchema(descriptor);
  });

  it('probes by key while thousands run', async () => {
    const runs = `"${descriptor.schema}".runs`;
    for (let batch = 0; batch < 3; batch++) {
      await storage.insertRuns(Array.from({ length: 1_000 }, () => newRun()));
    }
    // Statistics taken while no run runs make the index of running runs look empty, which
    // invites a plan that reads every running run once per request.
    await client.query(`analyze ${runs}`);
    const claimed = await storage.claim({
      workerId: 'worker-1',
      queues: ['default'],
      limit: 2_500,
      leaseMs: 600_000,
    });
    expect(claimed).toHaveLength(2_500);

    const batch = claimed.slice(0, 250);
    await client.query('begin');
    const completed = await client.query(
      `select * from "${descriptor.schema}".complete_runs($1::text[], $2::text[], $3::text[],
        $4::boolean[])`,
      [
        batch.map((run) => run.id),
        batch.map((run) => run.leaseToken),
        batch.map(() => 'null'),
        batch.map(() => true),
      ],
    );
    const { rows } = await client.query<{ fetched: string }>(
      `select idx_tup_fetch as fetched from pg_stat_xact_user_tables where relid = $1::regclass`,
      [runs],
    );
    await client.query('commit');

    expect(completed.rowCount).toBe(250);
    // Probing the primary key once per request fetched about 3,000 rows here. A plan that reads
    // the running runs once per request fetches about 250 × 2,500.
    expect(Number(rows[0]!.fetched)).toBeLessThan(25_000);
    const left = await client.query<{ count: number }>(
      `select count(*)::int as count from ${runs} where id = any($1::text[])`,
      [batch.map((run) => run.id)],
    );
    expect(left.rows[0]!.count).toBe(0);
  });
});
