/**
 * Entry point of a runner process: runs one cell (see cell.ts) for one system on fresh state
 * and sends the CellResult to the parent over IPC.
 */
import type { JobPayload, SystemAdapter, SystemSpec } from './adapter.js';
import type { CellResult, CellSpec } from './cell.js';
import { nowMs, sleep } from './clock.js';
import { runRelayPhase } from './relay-phase.js';
import { newRunContext, removeRunState } from './servers.js';
import { findSystem } from './systems/registry.js';
import { WorkerGroup } from './worker-group.js';

/** Interval of the runner's count of unfinished jobs once every handler has run. */
const STORE_POLL_MS = 2;
const WARMUP_JOBS = 3;
const WARMUP_TIMEOUT_MS = 10_000;

/** With BENCH_TRACE=1 in the environment, prints when each phase of the cell ends. */
const TRACE = process.env.BENCH_TRACE === '1';
const cellStartedAt = nowMs();

function trace(phase: string): void {
  if (TRACE) console.error(`  ${((nowMs() - cellStartedAt) / 1000).toFixed(2)} s: ${phase}`);
}

function uniform([min, max]: [number, number]): number {
  return min + Math.random() * (max - min);
}

function emptyResult(spec: CellSpec): CellResult {
  return {
    spec,
    error: null,
    startedAt: new Date().toISOString(),
    wallMs: 0,
    singlePerSec: null,
    bulkPerSec: null,
    processPerSec: null,
    processCapped: false,
    processedCount: 0,
    latencyMs: [],
    latencySent: 0,
    latenessMs: [],
    latenessSent: 0,
    relayMs: [],
    relaySent: 0,
    workerMaxRssKiB: [],
    extraExecutions: 0,
  };
}

/** Enqueue-to-start latency at low load, then lateness of delayed jobs, on an empty store. */
async function runLatencyPhases(
  system: SystemSpec,
  adapter: SystemAdapter,
  spec: CellSpec,
  result: CellResult,
  group: WorkerGroup,
): Promise<void> {
  await group.start(true);

  // Warm-up jobs open connections and compile hot paths before any sample is taken.
  for (let index = 0; index < WARMUP_JOBS; index += 1) {
    await adapter.enqueueOne({ sentAt: nowMs() });
  }
  let expected = WARMUP_JOBS;
  await group.waitForExecuted(expected, WARMUP_TIMEOUT_MS);

  if (spec.latencyCount > 0 && system.traits.latency) {
    for (let index = 0; index < spec.latencyCount; index += 1) {
      await adapter.enqueueOne({ sentAt: nowMs(), sample: 'latency' });
      await sleep(uniform(spec.latencyGapMs));
    }
    expected += spec.latencyCount;
    result.latencySent = spec.latencyCount;
    await group.waitForExecuted(expected, spec.phaseTailMs);
  }

  if (spec.delayedCount > 0 && system.traits.delayedJobs) {
    for (let index = 0; index < spec.delayedCount; index += 1) {
      const delayMs = uniform(spec.delayMs);
      const sentAt = nowMs();
      await adapter.enqueueDelayed(
        { sentAt, dueAt: sentAt + delayMs, sample: 'lateness' },
        delayMs,
      );
    }
    expected += spec.delayedCount;
    result.latenessSent = spec.delayedCount;
    await group.waitForExecuted(expected, spec.delayMs[1] + spec.phaseTailMs);
  }

  const reports = await group.stop();
  for (const report of reports) {
    result.latencyMs.push(...report.latencyMs);
    result.latenessMs.push(...report.latenessMs);
  }
}

function payloadsFor(spec: CellSpec, count: number, offset: number): JobPayload[] {
  const payloads: JobPayload[] = [];
  const cpuEvery = spec.cpuShare > 0 ? Math.round(1 / spec.cpuShare) : 0;
  for (let index = 0; index < count; index += 1) {
    const position = offset + index;
    const cpu = cpuEvery > 0 && position % cpuEvery === 0;
    payloads.push(cpu ? { sentAt: nowMs(), cpuRounds: spec.cpuRounds } : { sentAt: nowMs() });
  }
  return payloads;
}

/** Enqueues one at a time, then in bulk, with no worker running; returns the jobs enqueued. */
async function runEnqueuePhases(
  adapter: SystemAdapter,
  spec: CellSpec,
  result: CellResult,
): Promise<number> {
  if (spec.singleCount > 0) {
    const began = nowMs();
    for (let index = 0; index < spec.singleCount; index += 1) {
      await adapter.enqueueOne({ sentAt: nowMs() });
    }
    result.singlePerSec = spec.singleCount / ((nowMs() - began) / 1000);
  }

  if (spec.bulkCount > 0) {
    const batches: JobPayload[][] = [];
    for (let offset = 0; offset < spec.bulkCount; offset += spec.bulkBatchSize) {
      const size = Math.min(spec.bulkBatchSize, spec.bulkCount - offset);
      batches.push(payloadsFor(spec, size, offset));
    }
    const began = nowMs();
    for (const batch of batches) await adapter.enqueueMany(batch);
    result.bulkPerSec = spec.bulkCount / ((nowMs() - began) / 1000);
  }

  return spec.singleCount + spec.bulkCount;
}

/** Processes `total` enqueued jobs; the clock runs from the first handler start to the store
 * showing none remaining. */
async function runProcessPhase(
  adapter: SystemAdapter,
  spec: CellSpec,
  result: CellResult,
  group: WorkerGroup,
  total: number,
): Promise<void> {
  await group.start(false);
  const startSignalAt = nowMs();
  let endAt: number;
  let remaining: number;
  let executedAt: number | null = null;

  for (;;) {
    group.check();
    const firstStartAt = group.firstStartAt;
    const elapsed = nowMs() - (firstStartAt ?? startSignalAt);
    if (group.executed >= total) {
      if (executedAt === null) {
        executedAt = nowMs();
        trace(
          `every handler ran, ${(executedAt - (firstStartAt ?? startSignalAt)).toFixed(0)} ms after the first`,
        );
      }
      remaining = await adapter.remaining();
      if (remaining === 0) {
        endAt = nowMs();
        trace(`store showed none remaining ${(endAt - executedAt).toFixed(0)} ms later`);
        break;
      }
    }
    if (elapsed > spec.processCapMs) {
      remaining = await adapter.remaining();
      endAt = nowMs();
      result.processCapped = remaining > 0;
      break;
    }
    await sleep(group.executed >= total ? STORE_POLL_MS : 10);
  }

  // A worker stopped with jobs left can take longer than the group waits: liteque's, stopped
  // after a capped phase of 20,100 jobs, did not even report within 30 s. The rate comes from
  // the store, so a capped phase kills such a worker and keeps the reports that arrived.
  const reports = await group.stop(result.processCapped);
  const executed = reports.reduce((sum, report) => sum + report.executed, 0);
  result.processedCount = total - remaining;
  result.extraExecutions = reports.length === spec.processes ? Math.max(0, executed - total) : 0;
  result.workerMaxRssKiB = reports.map((report) => report.maxRssKiB);
  if (group.firstStartAt !== null && result.processedCount > 0) {
    result.processPerSec = result.processedCount / ((endAt - group.firstStartAt) / 1000);
  }
}

async function runCell(spec: CellSpec): Promise<CellResult> {
  const result = emptyResult(spec);
  const began = nowMs();
  const system = findSystem(spec.systemId);
  const context = newRunContext(spec.concurrency);
  let adapter: SystemAdapter | null = null;
  const groups: WorkerGroup[] = [];

  try {
    adapter = (await system.load())(context);
    await adapter.setup();
    trace('setup done');

    const wantsLatency =
      (spec.latencyCount > 0 && system.traits.latency) ||
      (spec.delayedCount > 0 && system.traits.delayedJobs);
    if (wantsLatency) {
      const group = new WorkerGroup(system.id, context, spec.concurrency, 1, null);
      groups.push(group);
      await runLatencyPhases(system, adapter, spec, result, group);
      trace('latency and lateness phases done');
    }

    const total = await runEnqueuePhases(adapter, spec, result);
    trace('enqueue phases done');
    if (total > 0) {
      const group = new WorkerGroup(
        system.id,
        context,
        spec.concurrency,
        spec.processes,
        spec.cpuProfileDir,
      );
      groups.push(group);
      await runProcessPhase(adapter, spec, result, group, total);
      trace('processing phase done');
    }

    if (spec.relayCount > 0 && system.traits.relay) {
      const group = new WorkerGroup(system.id, context, spec.concurrency, 1, null);
      groups.push(group);
      await runRelayPhase(adapter, spec, result, group);
      trace('relay phase done');
    }
  } catch (error) {
    result.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
  } finally {
    for (const group of groups) group.kill();
    try {
      await adapter?.close();
      await adapter?.teardown();
      await removeRunState(context);
      trace('cleanup done');
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      result.error ??= `cleanup failed: ${message}`;
    }
  }

  result.wallMs = nowMs() - began;
  return result;
}

const spec = JSON.parse(process.argv[2] ?? '') as CellSpec;
runCell(spec)
  .then((result) => {
    process.send?.(result, undefined, undefined, () => process.exit(0));
  })
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
