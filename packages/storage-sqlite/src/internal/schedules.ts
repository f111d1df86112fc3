import type {
  FireScheduleRequest,
  FireScheduleResult,
  ScheduleRecord,
  ScheduleUpsert,
} from '@zapjobs/core/storage';
import { DUE_SCHEDULES, FIRE_SCHEDULE, UPSERT_SCHEDULE } from '../sql/schedules.js';
import type { Connection, Tx } from './connection.js';
import { type ScheduleRow, toScheduleRecord } from './rows.js';
import { insertRuns } from './runs.js';

/** Creates a schedule or updates its definition; see UPSERT_SCHEDULE for what is kept. */
export function upsertSchedule(tx: Tx, schedule: ScheduleUpsert): ScheduleRecord {
  const row = tx.conn
    .stmt(UPSERT_SCHEDULE)
    .get(
      schedule.name,
      schedule.job,
      schedule.input,
      schedule.cron,
      schedule.intervalMs,
      schedule.timezone,
      schedule.paused === true ? 1 : 0,
      schedule.nextFireAt,
      schedule.options,
      schedule.tenantId ?? null,
      tx.now,
      tx.now,
      schedule.resetNextFireAt ? 1 : 0,
    ) as ScheduleRow;
  return toScheduleRecord(row);
}

export function getSchedule(conn: Connection, name: string): ScheduleRecord | null {
  const row = conn.stmt('SELECT * FROM zapjobs_schedules WHERE name = ?').get(name) as
    | ScheduleRow
    | undefined;
  return row === undefined ? null : toScheduleRecord(row);
}

export function listSchedules(conn: Connection): ScheduleRecord[] {
  const rows = conn.stmt('SELECT * FROM zapjobs_schedules ORDER BY name').all() as ScheduleRow[];
  return rows.map(toScheduleRecord);
}

export function setSchedulePaused(tx: Tx, name: string, paused: boolean): boolean {
  return (
    tx.conn
      .stmt('UPDATE zapjobs_schedules SET paused = ?, updated_at = ? WHERE name = ?')
      .run(paused ? 1 : 0, tx.now, name).changes > 0
  );
}

export function deleteSchedule(tx: Tx, name: string): boolean {
  return tx.conn.stmt('DELETE FROM zapjobs_schedules WHERE name = ?').run(name).changes > 0;
}

/** Unpaused schedules whose next occurrence is due, oldest first. */
export function dueSchedules(conn: Connection, now: number, limit: number): ScheduleRecord[] {
  const rows = conn.stmt(DUE_SCHEDULES).all(now, limit) as ScheduleRow[];
  return rows.map(toScheduleRecord);
}

/** Fires one occurrence if `nextFireAt` still has the expected value, inserting its runs. */
export function fireSchedule(tx: Tx, request: FireScheduleRequest): FireScheduleResult {
  const changes = tx.conn
    .stmt(FIRE_SCHEDULE)
    .run(
      request.nextFireAt,
      request.lastFireAt,
      tx.now,
      request.name,
      request.expectedNextFireAt,
    ).changes;
  if (changes === 0) return { fired: false, inserted: [] };
  return { fired: true, inserted: insertRuns(tx, request.runs) };
}
