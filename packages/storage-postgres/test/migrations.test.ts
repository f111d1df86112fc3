import { randomUUID } from 'node:crypto';
import { InvalidOptionError } from '@zapjobs/core/storage';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { MIGRATIONS, render } from '../src/internal/migrations.js';
import { type SchemaNames, schemaNames } from '../src/internal/names.js';
import { encodeNewRuns } from '../src/internal/rows.js';
import { dropSchema, newRun, PG_URL, randomSchema, requirePostgres, waitFor } from './helpers.js';

const reachable = await requirePostgres();

describe.skipIf(!reachable)('migrations', () => {
  const schemas: string[] = [];

  afterEach(async () => {
    for (const schema of schemas.splice(0)) await dropSchema({ connectionString: PG_URL, schema });
  });

  it('five pools migrate concurrently', async () => {
    const schema = randomSchema();
    schemas.push(schema);
    const storages = Array.from(
      { length: 5 },
      () => new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 2 }),
    );
    try {
      await Promise.all(storages.map((storage) => storage.migrate()));
      // A second round finds nothing left to do.
      await Promise.all(storages.map((storage) => storage.migrate()));

      const { rows } = await storages[0]!.pool.query<{ version: number }>(
        `select version from "${schema}".migrations order by version`,
      );
      const versions = rows.map((row) => row.version);
      expect(versions.length).toBeGreaterThan(0);
      expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));

      // Each of the five storages works on the shared schema.
      for (const storage of storages) expect(typeof (await storage.now())).toBe('number');
    } finally {
      await Promise.all(storages.map((storage) => storage.close()));
    }
  });

  it('five processes migrate concurrently', async () => {
    const schema = randomSchema();
    schemas.push(schema);
    const { spawn } = await import('node:child_process');
    const script = `
      import { PostgresStorage } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const storage = new PostgresStorage({ connectionString: process.argv[1], schema: process.argv[2], poolSize: 1 });
      await storage.migrate();
      await storage.close();
    `;
    const exits = await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          new Promise<{ code: number | null; stderr: string }>((resolve) => {
            const child = spawn(
              process.execPath,
              ['--input-type=module', '-e', script, PG_URL, schema],
              { stdio: ['ignore', 'ignore', 'pipe'] },
            );
            let stderr = '';
            child.stderr.on('data', (chunk: Buffer) => {
              stderr += chunk.toString();
            });
            child.on('exit', (code) => resolve({ code, stderr }));
          }),
      ),
    );
    for (const exit of exits) expect(exit).toEqual({ code: 0, stderr: '' });

    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const { rows } = await client.query(
        `select version, count(*)::int as n from "${schema}".migrations group by version`,
      );
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(row.n).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('migration 14 keeps schedules and keys them by tenant', async () => {
    const schema = randomSchema();
    schemas.push(schema);
    const names = schemaNames(schema);
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await migrateBelow(client, names, 14);
      const insert = `insert into ${names.quoted}.schedules (name, job, input, cron, interval_ms,
          timezone, paused, next_fire_at, last_fire_at, options, tenant_id, created_at, updated_at)
        values ($1, 'report', '{}', null, 60000, null, $2, 5000, 4000, '{}', $3, 1, 2)`;
      await client.query(insert, ['daily', false, 'acme']);
      await client.query(insert, ['acme/daily', true, null]);
    } finally {
      await client.end();
    }

    const storage = new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 2 });
    try {
      await storage.migrate();
      const acme = await storage.getSchedule({ name: 'daily', tenantId: 'acme' });
      expect(acme).toMatchObject({ tenantId: 'acme', paused: false, nextFireAt: 5_000 });
      expect(acme).toMatchObject({ lastFireAt: 4_000, createdAt: 1, updatedAt: 2 });
      expect(await storage.getSchedule({ name: 'daily', tenantId: null })).toBeNull();
      const plain = await storage.getSchedule({ name: 'acme/daily', tenantId: null });
      expect(plain).toMatchObject({ tenantId: null, paused: true });
      // The new key lets a schedule without a tenant take the name of acme's.
      await storage.upsertSchedule({
        name: 'daily',
        job: 'report',
        input: '{}',
        cron: null,
        intervalMs: 60_000,
        timezone: null,
        options: '{}',
        nextFireAt: 7_000,
        resetNextFireAt: true,
      });
      expect(await storage.listSchedules()).toHaveLength(3);
      expect((await storage.getSchedule({ name: 'daily', tenantId: 'acme' }))?.nextFireAt).toBe(
        5_000,
      );
    } finally {
      await storage.close();
    }
  });

  it('claim functions of older versions claim until migration 21', async () => {
    const schema = randomSchema();
    schemas.push(schema);
    const names = schemaNames(schema);
    const q = names.quoted;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const claim = (fn: string, queue: string) =>
      client.query<{ queue: string; state: string }>(
        `select * from ${q}.${fn}('old-worker', $1::text[], 10, 30000)`,
        [[queue]],
      );
    const storage = new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 2 });
    try {
      // A schema as version 12 left it, claimed through the function that version calls.
      await migrateBelow(client, names, 13);
      expect((await claim('claim_runs_tenancy', 'limited')).rows).toEqual([]);

      // Up to version 20, both keep their signature and return runs, without the burst uses.
      await applyMigrations(client, names, 13, 21);
      await client.query(
        `insert into ${q}.limits (scope, key, concurrency, burst_multiplier)
         values ('queue', 'limited', 1, 2)`,
      );
      const runs = [
        ...Array.from({ length: 3 }, () => newRun({ queue: 'limited' })),
        newRun({ queue: 'plain' }),
        newRun({ queue: 'plain' }),
      ];
      await client.query(
        `select * from ${q}.insert_runs_tenancy($1::json, true, '{}', '{limited,plain}',
          $2::text[])`,
        [encodeNewRuns(runs), runs.map((run) => run.id)],
      );
      const limited = await claim('claim_runs', 'limited');
      expect(limited.rows.map((row) => [row.queue, row.state])).toEqual([
        ['limited', 'running'],
        ['limited', 'running'],
      ]);
      expect(limited.rows[0]).not.toHaveProperty('bursts');
      const plain = await claim('claim_runs_tenancy', 'plain');
      expect(plain.rows.map((row) => [row.queue, row.state])).toEqual([
        ['plain', 'running'],
        ['plain', 'running'],
      ]);

      // Migration 21 drops every claim function of older versions, so a process of an older
      // version fails at its claim instead of starting runs whose completion it cannot store.
      await storage.migrate();
      for (const fn of ['claim_runs', 'claim_runs_tenancy', 'claim_runs_tenancy_with_bursts']) {
        await expect(claim(fn, 'plain')).rejects.toThrow(/does not exist/);
      }
      await storage.insertRuns([newRun({ queue: 'plain' })]);
      const claimed = await storage.claim({
        workerId: 'new-worker',
        queues: ['limited', 'plain'],
        limit: 10,
        leaseMs: 30_000,
      });
      expect(claimed.map((run) => run.queue)).toEqual(['plain']);
    } finally {
      await client.end();
      await storage.close();
    }
  });

  it('migration 15 lets published schedules change', async () => {
    const schema = randomSchema();
    schemas.push(schema);
    const names = schemaNames(schema);
    const publication = `${schema}_pub`;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const storage = new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 2 });
    try {
      // A schema as version 14 left it, with a schedule, in a publication that publishes
      // updates and deletes (the default).
      await migrateBelow(client, names, 15);
      await client.query(
        `insert into ${names.quoted}.schedules (name, job, input, cron, interval_ms, timezone,
          paused, next_fire_at, last_fire_at, options, tenant_id, created_at, updated_at)
        values ('daily', 'report', '{}', null, 60000, null, false, 5000, null, '{}', 'acme', 1, 2)`,
      );
      await client.query(`create publication "${publication}" for table ${names.quoted}.schedules`);
      const pause = `update ${names.quoted}.schedules set paused = true where name = 'daily'`;
      const blocked = await client.query(pause).catch((error: unknown) => error);
      expect((blocked as Error).message).toContain('does not have a replica identity');

      await storage.migrate();
      const key = await client.query(
        `select a.attname from pg_index i
          join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
          where i.indrelid = '${names.quoted}.schedules'::regclass and i.indisprimary`,
      );
      expect(key.rows).toEqual([{ attname: 'id' }]);
      const daily = { name: 'daily', tenantId: 'acme' };
      expect(await storage.setSchedulePaused(daily, true)).toBe(true);
      expect(await storage.setSchedulePaused(daily, false)).toBe(true);
      const fired = await storage.fireSchedule({
        ...daily,
        expectedNextFireAt: 5_000,
        nextFireAt: 65_000,
        lastFireAt: 5_000,
        runs: [],
      });
      expect(fired.fired).toBe(true);
      const stored = await storage.getSchedule(daily);
      expect(stored).toMatchObject({ paused: false, nextFireAt: 65_000, lastFireAt: 5_000 });
      expect(stored).not.toHaveProperty('id');
      // A new schedule gets an id of its own, so the upsert's insert works as before.
      await storage.upsertSchedule({
        name: 'daily',
        job: 'report',
        input: '{}',
        cron: null,
        intervalMs: 60_000,
        timezone: null,
        options: '{}',
        nextFireAt: 7_000,
        resetNextFireAt: true,
      });
      expect(await storage.listSchedules()).toHaveLength(2);
      expect(await storage.deleteSchedule(daily)).toBe(true);
      expect(await storage.getSchedule(daily)).toBeNull();
    } finally {
      await client.query(`drop publication if exists "${publication}"`);
      await client.end();
      await storage.close();
    }
  });

  it('migration 21 stores run ids as uuid and keeps every run', async () => {
    const schema = randomSchema();
    schemas.push(schema);
    const names = schemaNames(schema);
    const q = names.quoted;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const storage = new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 2 });
    const rows = async () =>
      (await client.query(`select to_jsonb(r) as row from ${q}.runs as r order by r.id`)).rows;
    try {
      // Runs as version 20 wrote them: a parent and its child, a unique key, some state, and a
      // run whose two parent ids are not UUIDs, which cancelled it.
      await migrateBelow(client, names, 21);
      const parent = newRun({ queue: 'old', priority: 1 });
      const child = newRun({
        queue: 'old',
        dependsOn: [{ runId: parent.id, condition: 'success', passOutput: true }],
      });
      const keyed = newRun({
        queue: 'old',
        unique: { key: 'k1', releaseOn: 'finish', onConflict: 'ignore' },
      });
      const orphan = newRun({ queue: 'old' });
      const payload = JSON.parse(encodeNewRuns([parent, child, keyed, orphan]));
      payload[3].depends_on = [
        { run_id: 'not-a-run', condition: 'always' },
        { run_id: 'nor-this', condition: 'success' },
      ];
      await client.query(
        `select * from ${q}.insert_runs_tenancy($1::json, false, '{}', '{old}', $2::text[])`,
        [JSON.stringify(payload), [parent.id, child.id, keyed.id, orphan.id]],
      );
      await client.query(
        `insert into ${q}.state (run_id, key, value, updated_at) values ($1, 'k', 'v', 1)`,
        [parent.id],
      );
      const before = await rows();

      await storage.migrate();
      const types = await client.query(
        `select table_name || '.' || column_name || ' ' || data_type as column
         from information_schema.columns
         where table_schema = $1 and column_name in ('id', 'run_id', 'child_id', 'parent_id')
           and table_name in ('runs', 'unique_keys', 'dependencies', 'state', 'events')
         order by 1`,
        [schema],
      );
      expect(types.rows.map((row) => row.column)).toEqual([
        'dependencies.child_id uuid',
        'dependencies.parent_id uuid',
        'events.id bigint',
        'events.run_id uuid',
        'runs.id uuid',
        'state.run_id uuid',
        'unique_keys.run_id uuid',
      ]);
      expect(await rows()).toEqual(before);
      expect((await storage.getRun(orphan.id))?.state).toBe('cancelled');
      const edges = await client.query(
        `select parent_id::text, satisfied from ${q}.dependencies where child_id = $1`,
        [orphan.id],
      );
      expect(edges.rows).toEqual([
        { parent_id: '00000000-0000-0000-0000-000000000000', satisfied: false },
      ]);
      expect(await storage.listState(parent.id)).toEqual({ k: 'v' });
      const events = await storage.listEvents({ runId: parent.id, limit: 10 });
      expect(events.items.map((event) => event.type)).toEqual(['enqueued']);

      // The runs go on: the parent completes and releases its child with its output, and the
      // unique key still holds.
      const [claimed] = await storage.claim({
        workerId: 'w',
        queues: ['old'],
        limit: 1,
        leaseMs: 30_000,
      });
      expect(claimed?.id).toBe(parent.id);
      const done = { runId: parent.id, leaseToken: claimed!.leaseToken, output: '"out"' };
      expect(await storage.complete([done])).toEqual([true]);
      expect(await storage.getRun(child.id)).toMatchObject({ state: 'available', input: '"out"' });
      const [again] = await storage.insertRuns([
        newRun({ queue: 'old', unique: { key: 'k1', releaseOn: 'finish', onConflict: 'ignore' } }),
      ]);
      expect(again).toMatchObject({ runId: keyed.id, created: false });
    } finally {
      await client.end();
      await storage.close();
    }
  });

  it('migration 21 names a run id it cannot store and changes nothing', async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const upper = randomUUID().toUpperCase();
      const nil = '00000000-0000-0000-0000-000000000000';
      for (const id of ['legacy-7', upper, nil]) {
        const schema = randomSchema();
        schemas.push(schema);
        const names = schemaNames(schema);
        await migrateBelow(client, names, 21);
        await client.query(
          `insert into ${names.quoted}.runs (id, job, queue, state, input, priority,
            max_attempts, run_at, created_at, history_level)
           values ($1, 'report', 'default', 'available', '{}', 0, 1, 1, 1, 'off')`,
          [id],
        );
        const storage = new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 1 });
        const error = await storage.migrate().catch((caught: unknown) => caught);
        await storage.close();
        expect((error as Error).message).toContain(
          `run id ${id} is not a lowercase UUID other than the nil UUID`,
        );
        const state = await client.query(
          `select (select max(version) from ${names.quoted}.migrations) as version,
             (select data_type from information_schema.columns
              where table_schema = $1 and table_name = 'runs' and column_name = 'id') as type`,
          [schema],
        );
        expect(state.rows).toEqual([{ version: 20, type: 'text' }]);
      }
    } finally {
      await client.end();
    }
  });

  it('migration 22 completes runs claimed before it', async () => {
    const schema = randomSchema();
    schemas.push(schema);
    const names = schemaNames(schema);
    const q = names.quoted;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    const storage = new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 2 });
    const reloptions = async () =>
      (
        await client.query(
          `select c.reloptions from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
           where n.nspname = $1 and c.relname = 'runs_running'`,
          [schema],
        )
      ).rows[0].reloptions;
    try {
      // Two runs claimed by version 21's claim, one to keep and one to remove.
      await migrateBelow(client, names, 22);
      const [kept, removed] = [newRun(), newRun()];
      await client.query(
        `select * from ${q}.insert_runs_tenancy($1::json, false, '{}', '{default}', $2::uuid[])`,
        [encodeNewRuns([kept, removed]), [kept.id, removed.id]],
      );
      const claimed = await client.query(
        `select (c.claimed).id, (c.claimed).lease_token
         from ${q}.claim_next_runs('w', '{default}', 2, 30000) as c`,
      );
      const tokens = new Map(claimed.rows.map((row) => [row.id, row.lease_token]));
      expect([...tokens.keys()].sort()).toEqual([kept.id, removed.id].sort());
      expect(await reloptions()).toBeNull();

      await storage.migrate();
      expect(await reloptions()).toEqual(['deduplicate_items=off']);
      const completed: string[] = [];
      await storage.subscribe({ onRunFinished: (runId) => completed.push(runId) });
      expect(
        await storage.complete([
          { runId: kept.id, leaseToken: tokens.get(kept.id), output: '1' },
          { runId: removed.id, leaseToken: tokens.get(removed.id), output: '2', remove: true },
        ]),
      ).toEqual([true, true]);
      expect(await storage.getRun(kept.id)).toMatchObject({ state: 'completed', output: '1' });
      expect(await storage.getRun(removed.id)).toBeNull();
      await waitFor('both completion notices', () => completed.length === 2);
      expect(completed.sort()).toEqual([kept.id, removed.id].sort());
    } finally {
      await client.end();
      await storage.close();
    }
  });

  it('schema names are validated', () => {
    for (const schema of ['bad-name', 'x; drop table t', '1abc', '', 'a'.repeat(56), 'zj"x']) {
      expect(() => new PostgresStorage({ connectionString: PG_URL, schema })).toThrow(
        InvalidOptionError,
      );
    }
    expect(() => new PostgresStorage({ connectionString: PG_URL, schema: 'bad-name' })).toThrow(
      /Invalid option schema: "bad-name".*letters, digits and underscores/,
    );
  });

  it('mixed-case schema name works', async () => {
    const schema = `Zj_Mixed_${randomSchema('')}`;
    schemas.push(schema);
    const storage = new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 2 });
    try {
      await storage.migrate();
      expect(await storage.insertRuns([])).toEqual([]);
      expect((await storage.countRuns({})).available).toBe(0);
    } finally {
      await storage.close();
    }
  });

  it('invalid options name the option', () => {
    expect(() => new PostgresStorage({ connectionString: PG_URL, poolSize: 0 })).toThrow(
      /Invalid option poolSize: 0/,
    );
    const pool = new pg.Pool({ connectionString: PG_URL });
    expect(() => new PostgresStorage({ connectionString: PG_URL, pool })).toThrow(
      /either connectionString or pool/,
    );
    void pool.end();
  });
});

if (!reachable) {
  it.skip('migrations: PostgreSQL is unreachable, see the notice above', () => {});
}

/** Creates the schema of `names` as the release before migration `version` left it. */
async function migrateBelow(client: pg.Client, names: SchemaNames, version: number) {
  await client.query(`create schema ${names.quoted}`);
  await client.query(
    `create table ${names.quoted}.migrations (version integer primary key, name text not null,
      applied_at timestamptz not null default now())`,
  );
  await applyMigrations(client, names, 1, version);
}

/** Applies the migrations from version `from` to the one before `below`, and records them. */
async function applyMigrations(client: pg.Client, names: SchemaNames, from: number, below: number) {
  for (const migration of MIGRATIONS) {
    if (migration.version < from || migration.version >= below) continue;
    await client.query(render(migration.sql, names));
    await client.query(`insert into ${names.quoted}.migrations (version, name) values ($1, $2)`, [
      migration.version,
      migration.name,
    ]);
  }
}
