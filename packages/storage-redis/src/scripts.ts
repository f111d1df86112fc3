import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import cancel from './lua/cancel.lua';
import claim from './lua/claim.lua';
import compactEvents from './lua/compact-events.lua';
import complete from './lua/complete.lua';
import depsList from './lua/deps-list.lua';
import eventsAppend from './lua/events-append.lua';
import eventsList from './lua/events-list.lua';
import eventsReindex from './lua/events-reindex.lua';
import fail from './lua/fail.lua';
import fairnessSet from './lua/fairness-set.lua';
import heartbeat from './lua/heartbeat.lua';
import insert from './lua/insert.lua';
import admission from './lua/lib/admission.lua';
import base from './lua/lib/base.lua';
import deleteLib from './lua/lib/delete.lua';
import finish from './lua/lib/finish.lua';
import insertLib from './lua/lib/insert.lua';
import ready from './lua/lib/ready.lua';
import scheduleKeys from './lua/lib/schedule-keys.lua';
import limitSet from './lua/limit-set.lua';
import nextDue from './lua/next-due.lua';
import progress from './lua/progress.lua';
import purge from './lua/purge.lua';
import reclaim from './lua/reclaim.lua';
import release from './lua/release.lua';
import retry from './lua/retry.lua';
import runsCount from './lua/runs-count.lua';
import runsList from './lua/runs-list.lua';
import scheduleDelete from './lua/schedule-delete.lua';
import scheduleFire from './lua/schedule-fire.lua';
import schedulePause from './lua/schedule-pause.lua';
import scheduleUpsert from './lua/schedule-upsert.lua';
import schedulesList from './lua/schedules-list.lua';
import schedulesRekey from './lua/schedules-rekey.lua';
import signal from './lua/signal.lua';
import statePut from './lua/state-put.lua';
import suspend from './lua/suspend.lua';
import tenantPurge from './lua/tenant-purge.lua';
import tenantStatus from './lua/tenant-status.lua';
import tenantUpsert from './lua/tenant-upsert.lua';
import tenantsList from './lua/tenants-list.lua';
import workerRegister from './lua/worker-register.lua';
import workerUnregister from './lua/worker-unregister.lua';
import workersList from './lua/workers-list.lua';

// Scripts that change runs also need ready.lua (ready sets) and finish.lua (terminal states,
// dependencies, reply()); scripts that delete runs need delete.lua, and complete.lua needs both
// (CompleteRequest.remove).
const changing = [base, ready, finish];
const deleting = [base, ready, deleteLib];

const sources = {
  cancel: [...changing, cancel],
  claim: [...changing, claim],
  compactEvents: [base, compactEvents],
  complete: [...changing, deleteLib, complete],
  depsList: [base, depsList],
  eventsAppend: [base, eventsAppend],
  eventsList: [base, eventsList],
  eventsReindex: [base, eventsReindex],
  fail: [...changing, fail],
  heartbeat: [...changing, heartbeat],
  fairnessSet: [...changing, fairnessSet],
  insert: [...changing, insertLib, admission, insert],
  limitSet: [base, limitSet],
  nextDue: [base, nextDue],
  progress: [...changing, progress],
  purge: [...deleting, purge],
  reclaim: [...changing, reclaim],
  release: [...changing, release],
  retry: [...changing, retry],
  runsCount: [base, runsCount],
  runsList: [base, runsList],
  scheduleDelete: [base, scheduleDelete],
  scheduleFire: [...changing, insertLib, admission, scheduleFire],
  schedulePause: [base, schedulePause],
  scheduleUpsert: [base, scheduleUpsert],
  schedulesList: [base, scheduleKeys, schedulesList],
  schedulesRekey: [base, scheduleKeys, schedulesRekey],
  signal: [...changing, signal],
  statePut: [base, statePut],
  suspend: [...changing, suspend],
  tenantPurge: [...deleting, tenantPurge],
  tenantStatus: [...changing, tenantStatus],
  tenantUpsert: [base, tenantUpsert],
  tenantsList: [base, tenantsList],
  workerRegister: [base, workerRegister],
  workerUnregister: [base, workerUnregister],
  workersList: [base, workersList],
} satisfies Record<string, string[]>;

export type ScriptName = keyof typeof sources;

interface Script {
  source: string;
  sha: string;
}

const scripts = Object.fromEntries(
  Object.entries(sources).map(([name, parts]) => {
    const source = parts.join('\n');
    return [name, { source, sha: createHash('sha1').update(source).digest('hex') }];
  }),
) as Record<ScriptName, Script>;

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

/**
 * Runs the Lua scripts with EVALSHA. Scripts are loaded with SCRIPT LOAD (on every master of a
 * cluster) by {@link loadAll} and again whenever Redis replies NOSCRIPT, as it does after a
 * restart or a failover has emptied its script cache.
 */
export class ScriptRunner {
  readonly #connection: Redis | Cluster;
  readonly #prefixKey: string;

  constructor(connection: Redis | Cluster, prefixKey: string) {
    this.#connection = connection;
    this.#prefixKey = prefixKey;
  }

  async loadAll(): Promise<void> {
    await Promise.all(Object.values(scripts).map((script) => this.#load(script)));
  }

  async run(name: ScriptName, args: readonly (string | number)[]): Promise<unknown> {
    const script = scripts[name];
    // One array argument, not a spread: an insert of many runs has too many arguments for one
    // JavaScript call.
    const command = [script.sha, 1, this.#prefixKey].concat(args);
    try {
      return await this.#connection.call('EVALSHA', command);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      await this.#load(script);
      return await this.#connection.call('EVALSHA', command);
    }
  }

  async #load(script: Script): Promise<void> {
    const connection = this.#connection;
    const nodes = connection.isCluster ? (connection as Cluster).nodes('master') : [connection];
    await Promise.all(nodes.map((node) => node.script('LOAD', script.source)));
  }
}
