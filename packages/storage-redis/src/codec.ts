import type {
  BurstUse,
  ClaimedRun,
  DependencyCondition,
  DependencyRecord,
  EventRecord,
  HistoryLevel,
  InsertResult,
  LimitSpec,
  NewRun,
  RunRecord,
  RunState,
  ScheduleRecord,
  WorkerInfo,
} from '@zapjobs/core/storage';

/** Argument value the scripts read as "absent". Core's payload rules forbid U+0000. */
export const ABSENT = '\0';

export type Flat = string[];

export function optional(value: string | number | undefined | null): string {
  return value === undefined || value === null ? ABSENT : String(value);
}

export function toMap(flat: Flat): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i < flat.length; i += 2) map.set(flat[i]!, flat[i + 1]!);
  return map;
}

// Cleared fields hold an empty string (see lua/lib/base.lua).
function numberOrNull(value: string | undefined): number | null {
  return value === undefined || value === '' ? null : Number(value);
}

/** Appends a run's insert arguments, in the order lib/insert.lua reads them. */
export function encodeRun(run: NewRun, out: string[]): void {
  const unique = run.unique;
  const dependencies = run.dependsOn ?? [];
  out.push(
    run.id,
    run.job,
    run.queue,
    run.input,
    String(run.priority),
    String(run.maxAttempts),
    optional(run.runAt),
    // A zero delay means "now", the same as no delay, so it sets no time for onConflict.
    run.delayMs !== undefined && run.delayMs > 0 ? String(run.delayMs) : ABSENT,
    optional(unique?.key),
    optional(unique?.releaseOn),
    optional(unique?.ttlMs),
    optional(unique?.onConflict),
    optional(run.groupId),
    optional(run.partitionKey),
    optional(run.tenantId),
    optional(run.traceContext),
    run.historyLevel,
    optional(run.metadata),
    String(dependencies.length),
  );
  for (const dependency of dependencies) {
    out.push(dependency.runId, dependency.condition, dependency.passOutput ? '1' : '0');
  }
}

export function decodeInsertResult(row: [string, number, number, RunState]): InsertResult {
  return { runId: row[0], created: row[1] === 1, replaced: row[2] === 1, state: row[3] };
}

export function decodeRun(flat: Flat): RunRecord {
  return decodeRunFields(toMap(flat));
}

function decodeRunFields(f: Map<string, string>): RunRecord {
  const error = f.get('error');
  return {
    id: f.get('id')!,
    job: f.get('job')!,
    queue: f.get('queue')!,
    state: f.get('state') as RunState,
    input: f.get('input')!,
    output: f.get('output') ?? null,
    error: error === undefined ? null : JSON.parse(error),
    priority: Number(f.get('priority')),
    attempt: Number(f.get('attempt')),
    maxAttempts: Number(f.get('maxAttempts')),
    runAt: Number(f.get('runAt')),
    createdAt: Number(f.get('createdAt')),
    startedAt: numberOrNull(f.get('startedAt')),
    firstStartedAt: numberOrNull(f.get('firstStartedAt')),
    finishedAt: numberOrNull(f.get('finishedAt')),
    leaseExpiresAt: numberOrNull(f.get('leaseExpiresAt')),
    workerId: f.get('workerId') ?? null,
    progress: f.get('progress') ?? null,
    groupId: f.get('groupId') ?? null,
    partitionKey: f.get('partitionKey') ?? null,
    tenantId: f.get('tenantId') ?? null,
    uniqueKey: f.get('uniqueKey') ?? null,
    traceContext: f.get('traceContext') ?? null,
    historyLevel: f.get('historyLevel') as HistoryLevel,
    metadata: f.get('metadata') ?? null,
  };
}

/** The `bursts` of a run that every limit admitted within its normal caps. */
const NO_BURSTS: readonly BurstUse[] = Object.freeze([]);

/** Decodes a run of claim.lua's reply, whose `bursts` field is JSON in the contract's shape. */
export function decodeClaimedRun(flat: Flat): ClaimedRun {
  const fields = toMap(flat);
  const bursts = fields.get('bursts');
  // Adds the fields to the record, because spreading it into a new object costs more than the
  // rest of the decoding.
  const claimed = decodeRunFields(fields) as RunRecord & {
    leaseToken: string;
    bursts: readonly BurstUse[];
  };
  claimed.leaseToken = fields.get('leaseToken')!;
  claimed.bursts = bursts === undefined ? NO_BURSTS : (JSON.parse(bursts) as BurstUse[]);
  return claimed;
}

/** Event ids are the namespace's event counter, zero-padded so that ids sort as strings too. */
export function eventId(sequence: string): string {
  return sequence.padStart(16, '0');
}

/** Decodes a stored event entry "seq\0at\0attempt\0type[\0data]" (see lib/base.lua). */
export function decodeEvent(
  runId: string,
  groupId: string | null,
  tenantId: string | null,
  entry: string,
): EventRecord {
  const a = entry.indexOf('\0');
  const b = entry.indexOf('\0', a + 1);
  const c = entry.indexOf('\0', b + 1);
  const d = entry.indexOf('\0', c + 1);
  const attempt = entry.slice(b + 1, c);
  return {
    id: eventId(entry.slice(0, a)),
    runId,
    groupId,
    tenantId,
    type: d < 0 ? entry.slice(c + 1) : entry.slice(c + 1, d),
    at: Number(entry.slice(a + 1, b)),
    attempt: attempt === '' ? null : Number(attempt),
    data: d < 0 ? null : entry.slice(d + 1),
  };
}

export function decodeDependency(row: [string, string, string, string, string]): DependencyRecord {
  return {
    parentId: row[0],
    condition: row[1] as DependencyCondition,
    passOutput: row[2] === '1',
    satisfied: row[3] === '' ? null : row[3] === '1',
    parentState: row[4] as RunState,
  };
}

export function decodeSchedule(flat: Flat): ScheduleRecord {
  const f = toMap(flat);
  return {
    name: f.get('name')!,
    job: f.get('job')!,
    input: f.get('input')!,
    cron: f.get('cron') ?? null,
    intervalMs: numberOrNull(f.get('intervalMs')),
    timezone: f.get('timezone') ?? null,
    paused: f.get('paused') === '1',
    nextFireAt: numberOrNull(f.get('nextFireAt')),
    lastFireAt: numberOrNull(f.get('lastFireAt')),
    options: f.get('options')!,
    tenantId: f.get('tenantId') ?? null,
    createdAt: Number(f.get('createdAt')),
    updatedAt: Number(f.get('updatedAt')),
  };
}

export function decodeWorker(id: string, flat: Flat): WorkerInfo {
  const f = toMap(flat);
  return {
    id,
    hostname: f.get('hostname')!,
    pid: Number(f.get('pid')),
    queues: JSON.parse(f.get('queues')!),
    concurrency: Number(f.get('concurrency')),
    startedAt: Number(f.get('startedAt')),
    lastSeenAt: Number(f.get('lastSeenAt')),
  };
}

/** Field of the "limits" hash for a limit: scope and key separated by U+0000. */
export function limitField(scope: LimitSpec['scope'], key: string): string {
  return `${scope}\0${key}`;
}

/** Value of the "limits" hash: "concurrency\0rateLimit\0ratePeriodMs\0burstMultiplier". */
export function encodeLimit(spec: LimitSpec): string {
  return [spec.concurrency, spec.rate?.limit, spec.rate?.periodMs, spec.burstMultiplier]
    .map((value) => (value === undefined ? '' : String(value)))
    .join('\0');
}

export function decodeLimit(field: string, value: string): LimitSpec {
  const sep = field.indexOf('\0');
  const [concurrency, rateLimit, ratePeriodMs, burst] = value.split('\0');
  const spec: LimitSpec = {
    scope: field.slice(0, sep) as LimitSpec['scope'],
    key: field.slice(sep + 1),
  };
  if (concurrency) spec.concurrency = Number(concurrency);
  if (rateLimit && ratePeriodMs) {
    spec.rate = { limit: Number(rateLimit), periodMs: Number(ratePeriodMs) };
  }
  if (burst) spec.burstMultiplier = Number(burst);
  return spec;
}
