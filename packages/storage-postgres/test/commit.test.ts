import { describe, expect, it } from 'vitest';
import { createSchemaStorage, dropSchema, newRun, requirePostgres } from './helpers.js';

const reachable = await requirePostgres();

describe.skipIf(!reachable)('claim commits', () => {
  // A claim is a lease: one lost in a crash leaves its runs claimable again, so it need not wait
  // for the WAL flush. A claim that limits count must wait, so that the counts survive a crash.
  it('only claims without limits skip the WAL flush', async () => {
    const { storage, descriptor } = await createSchemaStorage();
    const client = await storage.pool.connect();
    const setting = async (queue: string) => {
      await client.query('begin');
      try {
        const claimed = await client.query(
          `select (c.claimed).id from "${descriptor.schema}".claim_next_runs('w', $1::text[], 10,
            30000) as c`,
          [[queue]],
        );
        const { rows } = await client.query(
          `select current_setting('synchronous_commit') as value`,
        );
        return { claimed: claimed.rowCount, synchronousCommit: rows[0].value };
      } finally {
        await client.query('rollback');
      }
    };
    try {
      await storage.setLimit({ scope: 'queue', key: 'limited', concurrency: 5 });
      await storage.insertRuns([newRun({ queue: 'plain' }), newRun({ queue: 'limited' })]);
      expect(await setting('plain')).toEqual({ claimed: 1, synchronousCommit: 'off' });
      expect(await setting('limited')).toEqual({ claimed: 1, synchronousCommit: 'on' });
      await storage.setFairness({ queue: 'plain', by: 'tenant' });
      expect(await setting('plain')).toEqual({ claimed: 1, synchronousCommit: 'on' });
    } finally {
      client.release();
      await storage.close();
      await dropSchema(descriptor);
    }
  });
});

if (!reachable) {
  it.skip('claim commits: PostgreSQL is unreachable, see the notice above', () => {});
}
