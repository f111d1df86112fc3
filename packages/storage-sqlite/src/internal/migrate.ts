import { InvalidOptionError } from '@zapjobs/core/storage';
import { CREATE_MIGRATIONS_TABLE, MIGRATIONS } from '../sql/schema.js';
import type { Connection } from './connection.js';

/**
 * Applies missing migrations in one BEGIN IMMEDIATE transaction, so concurrent processes
 * apply each migration once: the second process waits for the lock and then finds it applied.
 */
export async function migrate(conn: Connection, path: string): Promise<void> {
  await conn.write('migrate', (tx) => {
    tx.conn.db.exec(CREATE_MIGRATIONS_TABLE);
    const applied = new Set(
      tx.conn.db.prepare('SELECT version FROM zapjobs_migrations').pluck().all() as number[],
    );
    const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
    const newest = Math.max(0, ...applied);
    if (newest > latest) {
      throw new InvalidOptionError(
        'path',
        path,
        `a database at schema version ${latest} or older; this file is at version ${newest}, ` +
          'written by a newer @zapjobs/storage-sqlite. Upgrade the package',
      );
    }
    const record = tx.conn.db.prepare(
      'INSERT INTO zapjobs_migrations (version, name, applied_at) VALUES (?, ?, ?)',
    );
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      tx.conn.db.exec(migration.sql);
      record.run(migration.version, migration.name, tx.now);
    }
  });
}
