import type {
  FireScheduleRequest,
  FireScheduleResult,
  ScheduleKey,
  ScheduleRecord,
  ScheduleUpsert,
} from '@zapjobs/core/storage';
import {
  DELETE_SCHEDULE,
  DUE_SCHEDULES,
  FIRE_SCHEDULE,
  GET_SCHEDULE,
  LIST_SCHEDULES,
  LIST_TENANT_SCHEDULES,
  PAUSE_SCHEDULE,
  UPSERT_SCHEDULE,
} from '../sql/schedules.js';
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

export function getSchedule(conn: Connection, key: ScheduleKey): ScheduleRecord | null {
  const row = conn.stmt(GET_SCHEDULE).get(key.tenantId ?? '', key.name) as ScheduleRow | undefined;
  return row === undefined ? null : toScheduleRecord(row);
}

export function listSchedules(conn: Connection, tenantId?: string): ScheduleRecord[] {
  const rows = (
    tenantId === undefined
      ? conn.stmt(LIST_SCHEDULES).all()
      : conn.stmt(LIST_TENANT_SCHEDULES).all(tenantId)
  ) as ScheduleRow[];
  return rows.map(toScheduleRecord);
}

export function setSchedulePaused(tx: Tx, key: ScheduleKey, paused: boolean): boolean {
  const result = tx.conn
    .stmt(PAUSE_SCHEDULE)
    .run(paused ? 1 : 0, tx.now, key.tenantId ?? '', key.name);
  return result.changes > 0;
}

export function deleteSchedule(tx: Tx, key: ScheduleKey): boolean {
  return tx.conn.stmt(DELETE_SCHEDULE).run(key.tenantId ?? '', key.name).changes > 0;
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
      request.tenantId ?? '',
      request.name,
      request.expectedNextFireAt,
    ).changes;
  if (changes === 0) return { fired: false, inserted: [] };
  return { fired: true, inserted: insertRuns(tx, request.runs) };
}
