import type {
  FireScheduleRequest,
  FireScheduleResult,
  RunState,
  ScheduleKey,
  ScheduleRecord,
  ScheduleUpsert,
} from '@zapjobs/core/storage';
import { upsertScheduleArgs } from './arguments.js';
import { decodeInsertResult, decodeSchedule, encodeRun, type Flat, optional } from './codec.js';
import type { Runner } from './runner.js';
import { isRejection, type Rejection, rejectionError } from './tenancy.js';

/** Returns the member of a schedule in "scn" and "scd", which its hash "sc:<member>" ends with. */
function memberOf(key: ScheduleKey): string {
  return `${key.tenantId ?? ''}/${key.name}`;
}

/**
 * The schedule methods of the storage contract (scripts schedule-*.lua, schedules-*.lua).
 * Schedule-upsert.lua describes the keys.
 */
export class ScheduleStore {
  readonly #runner: Runner;

  constructor(runner: Runner) {
    this.#runner = runner;
  }

  async upsert(schedule: ScheduleUpsert): Promise<ScheduleRecord> {
    const args = upsertScheduleArgs(schedule);
    return decodeSchedule(await this.#runner.read<Flat>('upsertSchedule', 'scheduleUpsert', args));
  }

  async get(key: ScheduleKey): Promise<ScheduleRecord | null> {
    const flat = await this.#runner.hash('getSchedule', `sc:${memberOf(key)}`);
    return flat === null ? null : decodeSchedule(flat);
  }

  async list(tenantId?: string): Promise<ScheduleRecord[]> {
    const args = tenantId === undefined ? ['all', ''] : ['tenant', tenantId];
    const rows = await this.#runner.read<Flat[]>('listSchedules', 'schedulesList', args);
    return rows.map(decodeSchedule);
  }

  async setPaused(key: ScheduleKey, paused: boolean): Promise<boolean> {
    const args = [optional(key.tenantId), key.name, paused ? '1' : '0'];
    return (await this.#runner.read<number>('setSchedulePaused', 'schedulePause', args)) === 1;
  }

  async delete(key: ScheduleKey): Promise<boolean> {
    const args = [optional(key.tenantId), key.name];
    return (await this.#runner.read<number>('deleteSchedule', 'scheduleDelete', args)) === 1;
  }

  /** Moves schedules of data layout version 1 to the keys of version 2; see schedules-rekey.lua. */
  async rekey(): Promise<number> {
    return this.#runner.read<number>('migrate', 'schedulesRekey', []);
  }

  async due(limit: number): Promise<ScheduleRecord[]> {
    if (limit < 1) return [];
    const rows = await this.#runner.read<Flat[]>('dueSchedules', 'schedulesList', [
      'due',
      String(limit),
    ]);
    return rows.map(decodeSchedule);
  }

  async fire(request: FireScheduleRequest): Promise<FireScheduleResult> {
    const args = [
      optional(request.tenantId),
      request.name,
      String(request.expectedNextFireAt),
      optional(request.nextFireAt),
      String(request.lastFireAt),
    ];
    for (const run of request.runs) encodeRun(run, args);
    type Row = [string, number, number, RunState];
    const result = await this.#runner.change<[number, Row[]] | Rejection>(
      'fireSchedule',
      'scheduleFire',
      args,
    );
    if (isRejection(result)) throw rejectionError(result);
    const [fired, rows] = result;
    return { fired: fired === 1, inserted: rows.map(decodeInsertResult) };
  }
}
