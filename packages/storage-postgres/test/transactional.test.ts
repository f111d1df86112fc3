import { InvalidOptionError, StorageError, type UniqueSpec } from '@zapjobs/core/storage';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import {
  createSchemaStorage,
  dropSchema,
  newRun,
  PG_URL,
  type PostgresDescriptor,
  requirePostgres,
  waitFor,
} from './helpers.js';

const reachable = await requirePostgres();

describe.skipIf(!reachable)('transactional enqueue', () => {
  let storage: PostgresStorage;
  let descriptor: PostgresDescriptor;
  const clients: pg.Client[] = [];

  /** Opens a separate connection that plays the application's own database client. */
  async function appClient(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    clients.push(client);
    return client;
  }

  beforeEach(async () => {
    ({ storage, descriptor } = await createSchemaStorage());
    await storage.pool.query(`create table "${descriptor.schema}".orders (id text primary key)`);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.end();
    await storage.close();
    await dropSchema(descriptor);
  });

  it('run commits with the application write', async () => {
    const client = await appClient();
    const run = newRun();
    await client.query('begin');
    await client.query(`insert into "${descriptor.schema}".orders values ('order-1')`);
    const [result] = await storage.insertRuns([run], { transaction: client });
    expect(result).toEqual({ runId: run.id, created: true, replaced: false, state: 'available' });
    // Not visible to other connections before the commit.
    expect(await storage.getRun(run.id)).toBeNull();

    await client.query('commit');
    expect((await storage.getRun(run.id))?.state).toBe('available');
    expect(
      await storage.claim({ workerId: 'w', queues: ['default'], limit: 5, leaseMs: 1_000 }),
    ).toHaveLength(1);
  });

  it('rolled-back transaction leaves no run', async () => {
    const client = await appClient();
    const run = newRun({ dependsOn: [] });
    const keyed = newRun({ unique: { key: 'k', releaseOn: 'never', onConflict: 'ignore' } });
    await client.query('begin');
    await client.query(`insert into "${descriptor.schema}".orders values ('order-2')`);
    const results = await storage.insertRuns([run, keyed], { transaction: client });
    expect(results.map((result) => result.created)).toEqual([true, true]);
    await client.query('rollback');

    expect(await storage.getRun(run.id)).toBeNull();
    expect(await storage.getRun(keyed.id)).toBeNull();
    expect(Object.values(await storage.countRuns({})).reduce((a, b) => a + b, 0)).toBe(0);
    expect((await storage.listEvents({ limit: 10 })).items).toEqual([]);
    // The unique key was never taken: a new run with it is created.
    const [again] = await storage.insertRuns([
      newRun({ unique: { key: 'k', releaseOn: 'never', onConflict: 'ignore' } }),
    ]);
    expect(again!.created).toBe(true);
  });

  it('a child enqueued while its parent completes with remove keeps the parent', async () => {
    const parent = newRun();
    await storage.insertRuns([parent]);
    const [claimed] = await storage.claim({
      workerId: 'w',
      queues: ['default'],
      limit: 1,
      leaseMs: 30_000,
    });
    const client = await appClient();
    const child = newRun({ dependsOn: [{ runId: parent.id, condition: 'success' }] });
    await client.query('begin');
    await storage.insertRuns([child], { transaction: client });

    // The completion waits for the insert's lock on the parent, then finds the new edge.
    const completing = storage.complete([
      { runId: parent.id, leaseToken: claimed!.leaseToken, output: '1', remove: true },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await client.query('commit');
    expect(await completing).toEqual([true]);

    expect((await storage.getRun(parent.id))?.state).toBe('completed');
    expect((await storage.getRun(child.id))?.state).toBe('available');
  });

  it('removing batch with a null id keeps a parent', async () => {
    // The storage never sends a null id, but the SQL function must not let one widen or void
    // the id range it probes for dependents.
    const parent = newRun();
    await storage.insertRuns([parent]);
    const [claimed] = await storage.claim({
      workerId: 'w',
      queues: ['default'],
      limit: 1,
      leaseMs: 30_000,
    });
    const child = newRun({ dependsOn: [{ runId: parent.id, condition: 'success' }] });
    await storage.insertRuns([child]);

    const { rows } = await storage.pool.query(
      `select c as position from "${descriptor.schema}".complete_batch($1::uuid[], $2::text[],
         $3::text[], $4::boolean[], false) as c`,
      [
        [null, parent.id],
        ['stale', claimed!.leaseToken],
        ['null', '1'],
        [true, true],
      ],
    );
    expect(rows).toEqual([{ position: 1 }]);
    expect((await storage.getRun(parent.id))?.state).toBe('completed');
    expect((await storage.getRun(child.id))?.state).toBe('available');
  });

  it('removing batch completes a group run', async () => {
    // A run in a group is never removed. The batch completes it in the same statement, without
    // raising SQLSTATE ZJR01 for a resend that locks the runs first.
    const [grouped, plain] = [newRun({ groupId: 'g' }), newRun()];
    await storage.insertRuns([grouped, plain]);
    const claimed = await storage.claim({
      workerId: 'w',
      queues: ['default'],
      limit: 2,
      leaseMs: 30_000,
    });
    const token = (id: string) => claimed.find((run) => run.id === id)!.leaseToken;

    const { rows } = await storage.pool.query(
      `select c as position from "${descriptor.schema}".complete_batch($1::uuid[], $2::text[],
         $3::text[], $4::boolean[], false) as c`,
      [
        [grouped.id, plain.id],
        [token(grouped.id), token(plain.id)],
        ['1', '2'],
        [true, true],
      ],
    );
    expect(rows).toEqual([]);
    expect(await storage.getRun(grouped.id)).toMatchObject({ state: 'completed', output: '1' });
    expect(await storage.getRun(plain.id)).toBeNull();
  });

  it('claim starts a run replaced during it', async () => {
    // The claim skips 100,000 runs that another session has locked in queue 'held', which
    // takes it long enough for an enqueue that replaces the run's input to commit meanwhile. The
    // claim then locks the run in a version its snapshot does not see, and must still start it,
    // or else neither log it as started nor release its unique key.
    const schema = `"${descriptor.schema}"`;
    const unique: UniqueSpec = { key: 'debounce', releaseOn: 'start', onConflict: 'replace' };
    const run = newRun({ queue: 'fresh', unique, historyLevel: 'full' });
    await storage.insertRuns([run]);
    await storage.pool.query(
      `insert into ${schema}.runs (id, job, queue, state, input, priority, attempt, max_attempts,
         run_at, created_at, history_level)
       select gen_random_uuid(), 'test-job', 'held', 'available', '{}', 0, 0, 3, 0, 0, 'off'
       from generate_series(1, 100000)`,
    );
    const holder = await appClient();
    await holder.query('begin');
    await holder.query(`select count(*) from (
      select 1 from ${schema}.runs where queue = 'held' for update) as locked`);

    const replacer = await appClient();
    await replacer.query('begin');
    const [replaced] = await storage.insertRuns(
      [newRun({ queue: 'fresh', unique, input: '{"n":2}' })],
      { transaction: replacer },
    );
    expect(replaced).toMatchObject({ runId: run.id, replaced: true });

    let committedAt = 0;
    const committing = new Promise<void>((resolve, reject) => {
      setTimeout(() => {
        replacer.query('commit').then(() => {
          committedAt = performance.now();
          resolve();
        }, reject);
      }, 50);
    });
    const claimed = await storage.claim({
      workerId: 'w',
      queues: ['held', 'fresh'],
      limit: 1,
      leaseMs: 30_000,
    });
    const claimEndedAt = performance.now();
    await committing;
    await holder.query('rollback');
    // The race happened only if the replacing enqueue committed while the claim ran.
    expect(committedAt).toBeGreaterThan(0);
    expect(committedAt).toBeLessThan(claimEndedAt);

    expect(claimed.map((claimedRun) => claimedRun.id)).toEqual([run.id]);
    expect(claimed[0]!.input).toBe('{"n":2}');
    expect((await storage.getRun(run.id))?.state).toBe('running');
    const { rows: started } = await storage.pool.query(
      `select attempt from ${schema}.events where run_id = $1 and type = 'started'`,
      [run.id],
    );
    expect(started).toEqual([{ attempt: 1 }]);
    const { rows: keys } = await storage.pool.query(`select key from ${schema}.unique_keys`);
    expect(keys).toEqual([]);
  });

  it('notification waits for the commit', async () => {
    const seen: (readonly string[] | null)[] = [];
    await storage.subscribe({ onWork: (queues) => seen.push(queues) });
    const client = await appClient();
    await client.query('begin');
    await storage.insertRuns([newRun({ queue: 'tx-queue' })], { transaction: client });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(seen).toEqual([]);

    await client.query('commit');
    await waitFor('onWork for tx-queue', () =>
      seen.some((queues) => queues?.includes('tx-queue') === true),
    );
  });

  it('five-way unique key race', async () => {
    const unique: UniqueSpec = { key: 'order-42', releaseOn: 'never', onConflict: 'ignore' };
    const committer = 3;
    const connections = await Promise.all(Array.from({ length: 5 }, () => appClient()));
    const outcomes = await Promise.all(
      connections.map(async (client, index) => {
        const run = newRun({ input: JSON.stringify({ caller: index }), unique });
        await client.query('begin');
        const [result] = await storage.insertRuns([run], { transaction: client });
        // Hold the transaction open so the others pile up on the key.
        await new Promise((resolve) => setTimeout(resolve, 50));
        await client.query(index === committer ? 'commit' : 'rollback');
        return { index, run, result: result! };
      }),
    );

    const winner = outcomes[committer]!;
    expect(winner.result).toEqual({
      runId: winner.run.id,
      created: true,
      replaced: false,
      state: 'available',
    });
    for (const outcome of outcomes) {
      if (outcome.index === committer) continue;
      if (outcome.result.created) {
        // It held the key inside its own transaction, then rolled back.
        expect(outcome.result.runId).toBe(outcome.run.id);
      } else {
        // It ran after the winner committed, and its result names the winner's run as the key holder.
        expect(outcome.result.runId).toBe(winner.run.id);
        expect(outcome.result.state).toBe('available');
      }
    }

    const page = await storage.listRuns({}, { limit: 10 });
    expect(page.items.map((run) => run.id)).toEqual([winner.run.id]);
    expect(page.items[0]!.uniqueKey).toBe('order-42');
    expect(page.items[0]!.input).toBe(JSON.stringify({ caller: committer }));
  });

  it('blocked inserts report the committed run', async () => {
    const unique: UniqueSpec = { key: 'invoice-7', releaseOn: 'never', onConflict: 'ignore' };
    const [first, ...others] = await Promise.all(Array.from({ length: 5 }, () => appClient()));
    const winner = newRun({ unique });
    await first!.query('begin');
    const [created] = await storage.insertRuns([winner], { transaction: first });
    expect(created!.created).toBe(true);

    // Four more transactions insert the same key and block on the uncommitted key row.
    const blocked = others.map(async (client) => {
      await client.query('begin');
      const [result] = await storage.insertRuns([newRun({ unique })], { transaction: client });
      await client.query('rollback');
      return result!;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await first!.query('commit');

    const results = await Promise.all(blocked);
    expect(results).toEqual(
      Array.from({ length: 4 }, () => ({
        runId: winner.id,
        created: false,
        replaced: false,
        state: 'available',
      })),
    );
    expect((await storage.listRuns({}, { limit: 10 })).items.map((run) => run.id)).toEqual([
      winner.id,
    ]);
  });

  it('non-client transaction handle is rejected', async () => {
    const attempt = storage.insertRuns([newRun()], { transaction: { begin: true } });
    await expect(attempt).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(attempt).rejects.toThrow(/transaction/);
    // A pool runs each query on any connection, outside the caller's transaction.
    const onPool = storage.insertRuns([newRun()], { transaction: storage.pool });
    await expect(onPool).rejects.toThrow(/not a pg\.Pool/);
  });

  it('aborted caller transaction raises StorageError', async () => {
    const client = await appClient();
    await client.query('begin');
    await expect(client.query('select * from no_such_table')).rejects.toThrow();
    const attempt = storage.insertRuns([newRun()], { transaction: client });
    await expect(attempt).rejects.toBeInstanceOf(StorageError);
    await expect(attempt).rejects.toThrow(/current transaction is aborted/);
    await client.query('rollback');
  });

  // A batch that completes a run it keeps and removes another, while the application enqueues a
  // child of each in one transaction, in id order. The kept run is either completed without
  // removal, in a batch that mixes both, or requests removal but cannot be removed because it
  // belongs to a group.
  it.each([
    ['a mixed removal batch', { remove: false, groupId: undefined }],
    ['a removal batch that keeps a run', { remove: true, groupId: 'kept-group' }],
  ])('children enqueue beside %s', async (_title, keptAs) => {
    // Two running runs: the one with the smaller id is kept, the other removed on completion.
    const runs = [newRun(), newRun()].sort((a, b) => (a.id < b.id ? -1 : 1));
    if (keptAs.groupId !== undefined) runs[0]!.groupId = keptAs.groupId;
    await storage.insertRuns(runs);
    const claimed = await storage.claim({
      workerId: 'w',
      queues: ['default'],
      limit: 2,
      leaseMs: 60_000,
    });
    const token = (id: string) => claimed.find((run) => run.id === id)!.leaseToken;
    const [kept, removed] = runs.map((run) => run.id) as [string, string];

    // The batch goes through a storage that records its log lines: a statement rolled back by
    // a deadlock is retried with a debug line.
    const logged: string[] = [];
    const record = (_fields: Record<string, unknown>, message: string) => logged.push(message);
    const batchStorage = new PostgresStorage({
      connectionString: PG_URL,
      schema: descriptor.schema,
      poolSize: 2,
      logger: { debug: record, info: record, warn: record, error: record },
    });
    try {
      // The application enqueues a child of each parent in id order, the order in which one
      // enqueue locks the parents of a child, while the batch completes both.
      const client = await appClient();
      await client.query('begin');
      const keptChild = newRun({ dependsOn: [{ runId: kept, condition: 'success' }] });
      await storage.insertRuns([keptChild], { transaction: client });
      const completing = batchStorage.complete([
        { runId: removed, leaseToken: token(removed), output: 'null', remove: true },
        { runId: kept, leaseToken: token(kept), output: 'null', remove: keptAs.remove },
      ]);
      await waitFor('the batch to wait for the child enqueue', async () => {
        const { rows } = await storage.pool.query(
          `select count(*)::int as waiting from pg_stat_activity
           where wait_event_type = 'Lock' and query like '%complete_batch%' and query like $1`,
          [`%${descriptor.schema}%`],
        );
        return rows[0].waiting > 0;
      });
      // Had the batch locked the removed run before the kept one, this insert would deadlock
      // with it.
      const removedChild = newRun({ dependsOn: [{ runId: removed, condition: 'success' }] });
      await storage.insertRuns([removedChild], { transaction: client });
      await client.query('commit');

      expect(await completing).toEqual([true, true]);
    } finally {
      await batchStorage.close();
    }
    expect(logged.filter((line) => line.includes('deadlock'))).toEqual([]);
    // A mixed batch locks its runs first at once. The other batch finds the kept run locked by
    // the enqueue and is sent again that way.
    const resent = logged.some((line) => line.includes('to lock its runs first'));
    expect(resent).toBe(keptAs.remove);
    // The removed run has a child now, so it is kept as completed.
    expect((await storage.getRun(removed))?.state).toBe('completed');
    expect((await storage.getRun(kept))?.state).toBe('completed');
  });
});

if (!reachable) {
  it.skip('transactional enqueue: PostgreSQL is unreachable, see the notice above', () => {});
}
