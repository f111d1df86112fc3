import type { Logger } from '@zapjobs/core';
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
 * Outcome of schedules-list.lua for an entry that is not at data layout version 2: the member
 * it moved the entry to, or null when it skipped the entry.
 */
type KeyReport = [member: string, movedTo: string | null];

/**
 * The schedule methods of the storage contract (scripts schedule-*.lua, schedules-*.lua).
 * Schedule-upsert.lua describes the keys.
 */
export class ScheduleStore {
  readonly #runner: Runner;
  readonly #logger: Logger;
  /** Members of skipped entries already logged, so a broken entry is logged once per storage. */
  readonly #skipsLogged = new Set<string>();

  constructor(runner: Runner, logger: Logger) {
    this.#runner = runner;
    this.#logger = logger;
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
    return this.#read('listSchedules', args);
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
    return this.#read('dueSchedules', ['due', String(limit)]);
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

  /** Runs schedules-list.lua and logs the entries it moved or skipped. */
  async #read(operation: string, args: string[]): Promise<ScheduleRecord[]> {
    const [rows, reports] = await this.#runner.read<[Flat[], KeyReport[]]>(
      operation,
      'schedulesList',
      args,
    );
    for (const [member, movedTo] of reports) this.#logReport(member, movedTo);
    return rows.map(decodeSchedule);
  }

  #logReport(member: string, movedTo: string | null): void {
    const namespace = this.#runner.prefixKey;
    if (movedTo !== null) {
      this.#logger.warn(
        { namespace, member, movedTo },
        `Moved schedule ${namespace}sc:${member} to ${namespace}sc:${movedTo}: a process of a ` +
          'release before data layout version 2 wrote it under its old key. Stop every process ' +
          'of the older release',
      );
      return;
    }
    if (this.#skipsLogged.has(member)) return;
    this.#skipsLogged.add(member);
    this.#logger.warn(
      { namespace, member },
      `Removed schedule entry "${member}" from the due set ${namespace}scd: hash ` +
        `${namespace}sc:${member} is missing, has no name field, or has a name or tenantId ` +
        'that does not match its key. Correct or delete that hash',
    );
  }
}
