import type { ClaimedRun } from '@zapjobs/core/storage';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStorage } from '../src/index.js';
import { schemaNames } from '../src/internal/names.js';
import { buildStatements, type Statements } from '../src/internal/statements.js';
import {
  createSchemaStorage,
  dropSchema,
  newRun,
  PG_URL,
  type PostgresDescriptor,
  requirePostgres,
} from './helpers.js';

const reachable = await requirePostgres();

// Statistics taken while no run is running make the index of running runs look empty. The
// planner may then read every running run per request or per call, or a small table whole.
// These tests take such statistics on a table of 20,000 or 3,000 runs, start 2,500 of them and
// count the rows of the runs table that a batch of 250 requests reads.
describe.skipIf(!reachable).each([20_000, 3_000])('lease-fenced batches on %i runs', (size) => {
  let storage: PostgresStorage;
  let descriptor: PostgresDescriptor;
  let client: pg.Client;
  let runs: string;
  let statements: Statements;
  let claimed: ClaimedRun[];

  beforeAll(async () => {
    ({ storage, descriptor } = await createSchemaStorage());
    runs = `"${descriptor.schema}".runs`;
    statements = buildStatements(schemaNames(descriptor.schema), false);
    client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    for (let batch = 0; batch < size / 1_000; batch++) {
      await storage.insertRuns(Array.from({ length: 1_000 }, () => newRun()));
    }
    await client.query(`analyze ${runs}`);
    claimed = await storage.claim({
      workerId: 'worker-1',
      queues: ['default'],
      limit: 2_500,
      leaseMs: 600_000,
    });
  });

  afterAll(async () => {
    await client.end();
    await storage.close();
    await dropSchema(descriptor);
  });

  /** Reads the rows that this connection has read from the runs table and not yet reported. */
  async function rowsRead(): Promise<number> {
    const { rows } = await client.query<{ read: string }>(
      `select idx_tup_fetch + seq_tup_read as read from pg_stat_xact_user_tables
       where relid = $1::regclass`,
      [runs],
    );
    return Number(rows[0]!.read);
  }

  /** Runs one statement in a transaction and returns its row count and the rows it read. */
  async function readsOf(sql: string, values: unknown[]): Promise<[number, number]> {
    await client.query('begin');
    try {
      const before = await rowsRead();
      const result = await client.query(sql, values);
      return [result.rowCount ?? 0, (await rowsRead()) - before];
    } finally {
      await client.query('commit');
    }
  }

  /** Takes the next 250 claimed runs, as the parallel arrays of a batch call. */
  function nextBatch(): [string[], string[]] {
    const batch = claimed.splice(0, 250);
    expect(batch).toHaveLength(250);
    return [batch.map((run) => run.id), batch.map((run) => run.leaseToken)];
  }

  // The completion statement lists the requests that did not take effect, so a row count of 0
  // means that all 250 did. Probing the primary key reads a few rows per request. A plan that reads the running runs
  // once per request reads about 250 × 2,500, and one that merges with the whole primary key
  // reads every run of the table.
  it('removes by key while thousands run', async () => {
    const [ids, tokens] = nextBatch();
    const [count, read] = await readsOf(statements.complete.text, [
      ids,
      tokens,
      ids.map(() => 'null'),
      ids.map(() => true),
      false,
    ]);
    expect(count).toBe(0);
    expect(read).toBeLessThan(1_000);
    const left = await client.query<{ count: number }>(
      `select count(*)::int as count from ${runs} where id = any($1::uuid[])`,
      [ids],
    );
    expect(left.rows[0]!.count).toBe(0);
  });

  // A plan that reads the running runs once per call reads up to 2,500 rows here.
  it('completes kept runs by key while thousands run', async () => {
    const [ids, tokens] = nextBatch();
    const [count, read] = await readsOf(statements.complete.text, [
      ids,
      tokens,
      ids.map(() => 'null'),
      ids.map(() => false),
      false,
    ]);
    expect(count).toBe(0);
    expect(read).toBeLessThan(1_000);
    const completed = await client.query<{ count: number }>(
      `select count(*)::int as count from ${runs} where id = any($1::uuid[]) and state = 'completed'`,
      [ids],
    );
    expect(completed.rows[0]!.count).toBe(250);
  });

  // A batch that removes some runs and keeps others locks them all first, then probes the
  // kept ones again to complete them.
  it('completes a mixed batch by key while thousands run', async () => {
    const [ids, tokens] = nextBatch();
    const [count, read] = await readsOf(statements.complete.text, [
      ids,
      tokens,
      ids.map(() => 'null'),
      ids.map((_, index) => index % 2 === 0),
      false,
    ]);
    expect(count).toBe(0);
    expect(read).toBeLessThan(1_000);
    const left = await client.query<{ count: number }>(
      `select count(*)::int as count from ${runs} where id = any($1::uuid[])`,
      [ids],
    );
    expect(left.rows[0]!.count).toBe(125);
  });

  it('fails runs by key while thousands run', async () => {
    const [ids, tokens] = nextBatch();
    const [count, read] = await readsOf(statements.fail.text, [
      ids,
      tokens,
      ids.map(() => '{"message":"boom"}'),
      ids.map(() => 1_000),
    ]);
    expect(count).toBe(250);
    expect(read).toBeLessThan(1_000);
  });

  it('releases runs by key while thousands run', async () => {
    const [ids, tokens] = nextBatch();
    const [count, read] = await readsOf(statements.release.text, [ids, tokens]);
    expect(count).toBe(250);
    expect(read).toBeLessThan(1_000);
  });

  it('extends leases by key while thousands run', async () => {
    const [ids, tokens] = nextBatch();
    const [count, read] = await readsOf(statements.heartbeat.text, [ids, tokens, 600_000]);
    expect(count).toBe(250);
    expect(read).toBeLessThan(1_000);
  });

  // The claim's update finds the picked runs by primary key. With these statistics, a hash
  // join over every run of the table looks cheaper to the planner for a claim this large.
  it('claims 500 runs by key while thousands wait', async () => {
    const [count, read] = await readsOf(statements.claim.text, [
      'worker-2',
      ['default'],
      500,
      600_000,
    ]);
    expect(count).toBe(500);
    expect(read).toBeLessThan(2_000);
  });
});
