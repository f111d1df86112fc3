import type {
  FireScheduleRequest,
  FireScheduleResult,
  RunState,
  ScheduleRecord,
  ScheduleUpsert,
} from '@zapjobs/core/storage';
import { upsertScheduleArgs } from './arguments.js';
import { decodeInsertResult, decodeSchedule, encodeRun, type Flat, optional } from './codec.js';
import type { Runner } from './runner.js';

/** The schedule methods of the storage contract (scripts schedule-*.lua, schedules-list.lua). */
export class ScheduleStore {
  readonly #runner: Runner;

  constructor(runner: Runner) {
    this.#runner = runner;
  }

  async upsert(schedule: ScheduleUpsert): Promise<ScheduleRecord> {
    const args = upsertScheduleArgs(schedule);
    return decodeSchedule(await this.#runner.read<Flat>('upsertSchedule', 'scheduleUpsert', args));
  }

  async get(name: string): Promise<ScheduleRecord | null> {
    const flat = await this.#runner.hash('getSchedule', `sc:${name}`);
    return flat === null ? null : decodeSchedule(flat);
  }

  async list(): Promise<ScheduleRecord[]> {
    const rows = await this.#runner.read<Flat[]>('listSchedules', 'schedulesList', ['all', '0']);
    return rows.map(decodeSchedule);
  }

  async setPaused(name: string, paused: boolean): Promise<boolean> {
    const args = [name, paused ? '1' : '0'];
    return (await this.#runner.read<number>('setSchedulePaused', 'schedulePause', args)) === 1;
  }

  async delete(name: string): Promise<boolean> {
    return (await this.#runner.read<number>('deleteSchedule', 'scheduleDelete', [name])) === 1;
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
      request.name,
      String(request.expectedNextFireAt),
      optional(request.nextFireAt),
      String(request.lastFireAt),
    ];
    for (const run of request.runs) encodeRun(run, args);
    type Row = [string, number, number, RunState];
    const [fired, rows] = await this.#runner.change<[number, Row[]]>(
      'fireSchedule',
      'scheduleFire',
      args,
    );
    return { fired: fired === 1, inserted: rows.map(decodeInsertResult) };
  }
}
