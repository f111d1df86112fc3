import type { LimitSpec } from '@zapjobs/core/storage';
import { InvalidOptionError } from '@zapjobs/core/storage';
import type { Connection, Tx } from './connection.js';

/** A row of `zapjobs_limits`. */
export interface LimitRow {
  scope: LimitSpec['scope'];
  key: string;
  concurrency: number | null;
  rate_limit: number | null;
  rate_period_ms: number | null;
  burst_multiplier: number | null;
}

const SCOPES: ReadonlySet<string> = new Set(['queue', 'job', 'partition']);

/** Rejects a limit that could never be enforced as written. */
function checkLimit(spec: LimitSpec): void {
  if (!SCOPES.has(spec.scope)) {
    throw new InvalidOptionError('scope', spec.scope, '"queue", "job" or "partition"');
  }
  if (
    spec.concurrency !== undefined &&
    !(Number.isInteger(spec.concurrency) && spec.concurrency >= 0)
  ) {
    throw new InvalidOptionError('concurrency', spec.concurrency, 'an integer >= 0');
  }
  if (spec.rate !== undefined) {
    if (!(Number.isInteger(spec.rate.limit) && spec.rate.limit >= 0)) {
      throw new InvalidOptionError('rate.limit', spec.rate.limit, 'an integer >= 0');
    }
    if (!(Number.isInteger(spec.rate.periodMs) && spec.rate.periodMs > 0)) {
      throw new InvalidOptionError('rate.periodMs', spec.rate.periodMs, 'an integer > 0');
    }
  }
  if (spec.burstMultiplier !== undefined && !(spec.burstMultiplier >= 1)) {
    throw new InvalidOptionError('burstMultiplier', spec.burstMultiplier, 'a number >= 1');
  }
}

/** Creates or replaces the limit of one scope and key. */
export function setLimit(tx: Tx, spec: LimitSpec): void {
  checkLimit(spec);
  tx.conn
    .stmt(
      `INSERT OR REPLACE INTO zapjobs_limits
         (scope, key, concurrency, rate_limit, rate_period_ms, burst_multiplier)
       VALUES (?, ?, ?, ?, ?, ?)`,
    )
    .run(
      spec.scope,
      spec.key,
      spec.concurrency ?? null,
      spec.rate?.limit ?? null,
      spec.rate?.periodMs ?? null,
      spec.burstMultiplier ?? null,
    );
  // A raised limit may make waiting runs claimable.
  if (spec.scope !== 'job') tx.notes.work.add(spec.key);
}

export function deleteLimit(tx: Tx, scope: LimitSpec['scope'], key: string): boolean {
  const deleted = tx.conn
    .stmt('DELETE FROM zapjobs_limits WHERE scope = ? AND key = ?')
    .run(scope, key).changes;
  tx.conn.stmt('DELETE FROM zapjobs_rate_claims WHERE scope = ? AND key = ?').run(scope, key);
  if (deleted > 0 && scope !== 'job') tx.notes.work.add(key);
  return deleted > 0;
}

export function loadLimits(conn: Connection): LimitRow[] {
  return conn.stmt('SELECT * FROM zapjobs_limits ORDER BY scope, key').all() as LimitRow[];
}

export function listLimits(conn: Connection): LimitSpec[] {
  return loadLimits(conn).map(toLimitSpec);
}

export function toLimitSpec(row: LimitRow): LimitSpec {
  const spec: LimitSpec = { scope: row.scope, key: row.key };
  if (row.concurrency !== null) spec.concurrency = row.concurrency;
  if (row.rate_limit !== null && row.rate_period_ms !== null) {
    spec.rate = { limit: row.rate_limit, periodMs: row.rate_period_ms };
  }
  if (row.burst_multiplier !== null) spec.burstMultiplier = row.burst_multiplier;
  return spec;
}
