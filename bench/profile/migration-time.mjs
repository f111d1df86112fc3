// Times the newest PostgreSQL migration on a schema that the earlier ones built and filled, for
// operations notes. It applies every migration but the last from the storage's src/sql files,
// inserts runs (half completed, half available, all recording history) with one `enqueued`
// event each and a `completed` event for the completed half, then times `migrate()`. Not part
// of `pnpm bench`.
//
//   node profile/migration-time.mjs [runs]        (default 100,000)
//
// ZAPJOBS_PG_URL chooses the server (default: the local one). The schema is dropped at the end.
import { readdirSync, readFileSync } from 'node:fs';
import { PostgresStorage } from '@zapjobs/storage-postgres';
import pg from 'pg';

const PG_URL = process.env.ZAPJOBS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const runs = Number(process.argv[2] ?? 100_000);
const schema = `zjmigration${process.pid}`;
const quoted = `"${schema}"`;
const SQL_DIR = new URL('../../packages/storage-postgres/src/sql/', import.meta.url);

/** Fills the placeholders of a migration file, as the storage does. */
function render(sql) {
  return sql
    .replaceAll('{{schema}}', quoted)
    .replaceAll('{{channel}}', `'zapjobs:${schema}'`)
    .replaceAll('{{lock_prefix}}', `'zapjobs:${schema}:limit:'`);
}

const files = readdirSync(SQL_DIR)
  .filter((file) => /^\d{3}_.*\.sql$/.test(file))
  .sort();
const newest = files.at(-1);
const client = new pg.Client(PG_URL);
await client.connect();
try {
  await client.query(`create schema ${quoted}`);
  await client.query(
    `create table ${quoted}.migrations (version integer primary key, name text not null,
      applied_at timestamptz not null default now())`,
  );
  for (const file of files.slice(0, -1)) {
    await client.query(render(readFileSync(new URL(file, SQL_DIR), 'utf8')));
    await client.query(`insert into ${quoted}.migrations (version, name) values ($1, $2)`, [
      Number(file.slice(0, 3)),
      file,
    ]);
  }
  await client.query(
    `insert into ${quoted}.runs (id, job, queue, state, input, output, priority, max_attempts,
       run_at, created_at, finished_at, history_level)
     select gen_random_uuid()::text, 'report', 'default',
       case when g % 2 = 0 then 'completed' else 'available' end, '{"n":' || g || '}',
       case when g % 2 = 0 then '{"ok":true}' end, 0, 3, 1, 1, case when g % 2 = 0 then 2 end,
       'full'
     from generate_series(1, $1) as g`,
    [runs],
  );
  await client.query(
    `insert into ${quoted}.events (run_id, type, at) select id, 'enqueued', 1 from ${quoted}.runs`,
  );
  await client.query(
    `insert into ${quoted}.events (run_id, type, at)
     select id, 'completed', 2 from ${quoted}.runs where state = 'completed'`,
  );
  await client.query(`analyze ${quoted}.runs`);
  await client.query(`analyze ${quoted}.events`);

  const storage = new PostgresStorage({ connectionString: PG_URL, schema, poolSize: 1 });
  const started = performance.now();
  await storage.migrate();
  const seconds = (performance.now() - started) / 1000;
  await storage.close();
  const events = runs + Math.floor(runs / 2);
  console.log(`${newest} on ${runs} runs and ${events} events: ${seconds.toFixed(1)} s`);
} finally {
  await client.query(`drop schema if exists ${quoted} cascade`);
  await client.end();
}
