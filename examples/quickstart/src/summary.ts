import type { RunState, ZapJobs } from '@zapjobs/core';

/** Summary printed at the end of the quick start, every count read back from the database. */
export interface Summary {
  runs: number;
  completed: number;
  deadLettered: number;
  cancelled: number;
  unfinished: number;
  /** Runs that needed more than one attempt. */
  retried: number;
  /** Runs with more than one `completed` event: must be zero. */
  duplicateCompletions: number;
  /** Runs finished during this invocation, per second between first start and last finish. */
  throughputPerSecond: number;
  finishedThisSession: number;
  latencyMs: { p50: number; p95: number; p99: number } | null;
  completionsByWorker: Map<string, number>;
}

/** Reads the summary of a group's runs from the database. */
export async function summarize(
  client: Pick<ZapJobs, 'countRuns' | 'listRuns' | 'listEvents'>,
  groupId: string,
  sessionStartedAt: number,
): Promise<Summary> {
  const counts = await client.countRuns({ groupId });
  const runs = Object.values(counts).reduce((sum, count) => sum + count, 0);
  const finished = (state: RunState) => counts[state] ?? 0;

  let retried = 0;
  let firstStart = Number.POSITIVE_INFINITY;
  let lastFinish = 0;
  let finishedThisSession = 0;
  const latencies: number[] = [];
  const completionsByWorker = new Map<string, number>();

  let cursor: string | undefined;
  do {
    const page = await client.listRuns({ groupId, limit: 1_000, cursor });
    for (const run of page.runs) {
      if (run.attempt > 1) retried++;
      if (run.state === 'completed' && run.workerId !== null) {
        const worker = processOf(run.workerId);
        completionsByWorker.set(worker, (completionsByWorker.get(worker) ?? 0) + 1);
      }
      const started = run.firstStartedAt?.getTime();
      const ended = run.finishedAt?.getTime();
      if (started === undefined || ended === undefined || ended < sessionStartedAt) continue;

      finishedThisSession++;
      firstStart = Math.min(firstStart, Math.max(started, sessionStartedAt));
      lastFinish = Math.max(lastFinish, ended);
      if (started >= sessionStartedAt) {
        latencies.push(started - Math.max(run.runAt.getTime(), sessionStartedAt));
      }
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);

  const completedPerRun = new Map<string, number>();
  let eventCursor: string | undefined;
  do {
    const page = await client.listEvents({
      groupId,
      types: ['completed'],
      limit: 1_000,
      cursor: eventCursor,
    });
    for (const event of page.events) {
      completedPerRun.set(event.runId, (completedPerRun.get(event.runId) ?? 0) + 1);
    }
    eventCursor = page.nextCursor ?? undefined;
  } while (eventCursor !== undefined);

  const elapsedSeconds = (lastFinish - firstStart) / 1_000;
  return {
    runs,
    completed: finished('completed'),
    deadLettered: finished('failed'),
    cancelled: finished('cancelled'),
    unfinished: runs - finished('completed') - finished('failed') - finished('cancelled'),
    retried,
    duplicateCompletions: [...completedPerRun.values()].filter((count) => count > 1).length,
    throughputPerSecond: elapsedSeconds > 0 ? finishedThisSession / elapsedSeconds : 0,
    finishedThisSession,
    latencyMs: latencies.length > 0 ? percentiles(latencies) : null,
    completionsByWorker,
  };
}

/** Worker ids are `hostname-pid-suffix`; the summary groups by process. */
function processOf(workerId: string): string {
  const match = workerId.match(/-(\d+)-[^-]+$/);
  return match ? `pid ${match[1]}` : workerId;
}

function percentiles(values: number[]): { p50: number; p95: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (share: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** Renders the summary as an aligned two-column table. */
export function formatSummary(summary: Summary): string {
  const rows: Array<[string, string]> = [
    ['runs in the database', String(summary.runs)],
    ['completed', String(summary.completed)],
    ['retried (needed > 1 attempt)', String(summary.retried)],
    ['dead-lettered', String(summary.deadLettered)],
    ['cancelled', String(summary.cancelled)],
    ['lost (not finished)', String(summary.unfinished)],
    ['duplicate completions', String(summary.duplicateCompletions)],
    ['finished in this session', String(summary.finishedThisSession)],
    ['throughput', `${summary.throughputPerSecond.toFixed(0)} runs/s`],
  ];
  if (summary.latencyMs) {
    const { p50, p95, p99 } = summary.latencyMs;
    rows.push(['enqueue-to-start p50 / p95 / p99', `${p50} / ${p95} / ${p99} ms`]);
  }
  for (const [worker, count] of [...summary.completionsByWorker.entries()].sort()) {
    rows.push([`completed by ${worker}`, String(count)]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  const line = `+${'-'.repeat(width + 2)}+${'-'.repeat(22)}+`;
  const body = rows.map(([label, value]) => `| ${label.padEnd(width)} | ${value.padStart(20)} |`);
  return [line, ...body, line].join('\n');
}
