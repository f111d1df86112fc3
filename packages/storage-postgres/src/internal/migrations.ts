import tables from '../sql/001_tables.sql';
import notifyAndDependencies from '../sql/002_notify_and_dependencies.sql';
import insert from '../sql/003_insert.sql';
import claim from '../sql/004_claim.sql';
import finish from '../sql/005_finish.sql';
import suspendAndSignal from '../sql/006_suspend_and_signal.sql';
import admin from '../sql/007_admin.sql';
import tenancyTables from '../sql/008_tenancy_tables.sql';
import tenancyAdmission from '../sql/009_tenancy_admission.sql';
import tenancyClaim from '../sql/010_tenancy_claim.sql';
import settleUnderLock from '../sql/011_settle_under_lock.sql';
import eventCompaction from '../sql/012_event_compaction.sql';
import claimBursts from '../sql/013_claim_bursts.sql';
import scheduleKey from '../sql/014_schedule_key.sql';
import schedulePrimaryKey from '../sql/015_schedule_primary_key.sql';
import removeOnComplete from '../sql/016_remove_on_complete.sql';
import removeByKey from '../sql/017_remove_by_key.sql';
import fenceByToken from '../sql/018_fence_by_token.sql';
import heartbeatByToken from '../sql/019_heartbeat_by_token.sql';
import lockMixedBatches from '../sql/020_lock_mixed_batches.sql';
import uuidRunIds from '../sql/021_uuid_run_ids.sql';
import leanCompletions from '../sql/022_lean_completions.sql';
import deleteBeforeLocking from '../sql/023_delete_before_locking.sql';
import claimReturnsUpdateRows from '../sql/024_claim_returns_update_rows.sql';
import cachedNoticePlans from '../sql/025_cached_notice_plans.sql';
import { type Db, type Queryable, runQuery } from './db.js';
import type { SchemaNames } from './names.js';

interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Versioned migrations, applied in order. Never edit one that shipped; append a new one. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'tables', sql: tables },
  { version: 2, name: 'notify and dependencies', sql: notifyAndDependencies },
  { version: 3, name: 'insert', sql: insert },
  { version: 4, name: 'claim', sql: claim },
  { version: 5, name: 'finish', sql: finish },
  { version: 6, name: 'suspend and signal', sql: suspendAndSignal },
  { version: 7, name: 'admin', sql: admin },
  { version: 8, name: 'tenancy tables', sql: tenancyTables },
  { version: 9, name: 'tenancy admission', sql: tenancyAdmission },
  { version: 10, name: 'tenancy claim', sql: tenancyClaim },
  { version: 11, name: 'settle under lock', sql: settleUnderLock },
  { version: 12, name: 'event compaction', sql: eventCompaction },
  { version: 13, name: 'claim bursts', sql: claimBursts },
  { version: 14, name: 'schedule names unique per tenant', sql: scheduleKey },
  { version: 15, name: 'schedule primary key', sql: schedulePrimaryKey },
  { version: 16, name: 'remove on complete', sql: removeOnComplete },
  { version: 17, name: 'remove by key', sql: removeByKey },
  { version: 18, name: 'fence by token', sql: fenceByToken },
  { version: 19, name: 'heartbeat by token', sql: heartbeatByToken },
  { version: 20, name: 'lock mixed batches', sql: lockMixedBatches },
  { version: 21, name: 'uuid run ids', sql: uuidRunIds },
  { version: 22, name: 'lean completions', sql: leanCompletions },
  { version: 23, name: 'delete before locking', sql: deleteBeforeLocking },
  { version: 24, name: 'claim returns update rows', sql: claimReturnsUpdateRows },
  { version: 25, name: 'cached notice plans', sql: cachedNoticePlans },
];

/**
 * Creates the schema and applies every pending migration in one transaction.
 *
 * The transaction first takes an advisory lock specific to the schema, so processes that start
 * at the same time migrate one after the other: the first applies the migrations and the others
 * find nothing left to do. A failure rolls every migration of the call back.
 */
export async function migrate(db: Db, names: SchemaNames): Promise<void> {
  await db.transaction('migrate', async (client) => {
    await runQuery(client, 'select pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `zapjobs:migrate:${names.schema}`,
    ]);
    await runQuery(client, `create schema if not exists ${names.quoted}`);
    await runQuery(
      client,
      `create table if not exists ${names.quoted}.migrations (
        version integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`,
    );

    const applied = await appliedVersions(client, names);
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      await runQuery(client, render(migration.sql, names));
      await runQuery(
        client,
        `insert into ${names.quoted}.migrations (version, name) values ($1, $2)`,
        [migration.version, migration.name],
      );
    }
  });
}

async function appliedVersions(client: Queryable, names: SchemaNames): Promise<Set<number>> {
  const result = await runQuery(client, `select version from ${names.quoted}.migrations`);
  return new Set(result.rows.map((row) => Number(row.version)));
}

/** Fills the placeholders of a migration file with this schema's names. */
export function render(sql: string, names: SchemaNames): string {
  return sql
    .replaceAll('{{schema}}', names.quoted)
    .replaceAll('{{channel}}', `'${names.channel}'`)
    .replaceAll('{{lock_prefix}}', `'zapjobs:${names.schema}:limit:'`);
}
