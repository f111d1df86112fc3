import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStorage } from '../src/index.js';
import { schemaNames } from '../src/internal/names.js';
import { buildStatements } from '../src/internal/statements.js';
import {
  createSchemaStorage,
  dropSchema,
  newRun,
  PG_URL,
  type PostgresDescriptor,
  requirePostgres,
} from './helpers.js';

const reachable = await requirePostgres();

describe.skipIf(!reachable)('claim commit', () => {
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

  it('skips the flush wait of its own transaction only', async () => {
    await storage.insertRuns([newRun()]);
    const { claim } = buildStatements(schemaNames(descriptor.schema));
    await client.query('begin');
    const claimed = await client.query(claim.text, ['worker-1', ['default'], 10, 30_000]);
    const inside = await client.query<{ value: string }>(
      `select current_setting('synchronous_commit') as value`,
    );
    await client.query('commit');
    const after = await client.query<{ value: string }>(
      `select current_setting('synchronous_commit') as value`,
    );

    expect(claimed.rowCount).toBe(1);
    expect(inside.rows[0]!.value).toBe('off');
    expect(after.rows[0]!.value).toBe('on');
  });
});
