/**
 * The relay phase of a cell. The runner's client, which runs no worker, enqueues no-op jobs and
 * waits for each to complete, one call after another, while a worker runs in one worker
 * process. Each timed call yields a round trip, and the worker records the enqueue-to-start
 * latency of the same jobs.
 */
import type { SystemAdapter } from './adapter.js';
import type { CellResult, CellSpec } from './cell.js';
import { nowMs } from './clock.js';
import type { WorkerGroup } from './worker-group.js';

export async function runRelayPhase(
  adapter: SystemAdapter,
  spec: CellSpec,
  result: CellResult,
  group: WorkerGroup,
): Promise<void> {
  const enqueueAndWait = adapter.enqueueAndWait?.bind(adapter);
  if (!enqueueAndWait) {
    throw new Error(
      `system "${spec.systemId}" has the relay trait but its adapter is missing ` +
        'enqueueAndWait: implement it or set the trait to false',
    );
  }
  await group.start(true);

  // Warm-up calls open the client's subscription and connections and compile hot paths.
  for (let index = 0; index < spec.relayWarmupCount; index += 1) {
    if (!(await enqueueAndWait({ sentAt: nowMs() }, spec.phaseTailMs))) {
      throw new Error(`warm-up relay call ${index + 1} timed out after ${spec.phaseTailMs} ms`);
    }
  }

  const began = nowMs();
  let callsMade = 0;
  while (callsMade < spec.relayCount && nowMs() - began < spec.relayCapMs) {
    const sentAt = nowMs();
    callsMade += 1;
    const completed = await enqueueAndWait({ sentAt, sample: 'latency' }, spec.phaseTailMs);
    if (completed) result.relayMs.push(nowMs() - sentAt);
  }
  result.relaySent = callsMade;
  result.latencySent = callsMade;

  // Jobs whose wait timed out may still start, so they get the same tail as the latency phase.
  const expected = spec.relayWarmupCount + callsMade;
  await group.waitForExecuted(expected, spec.phaseTailMs);
  const reports = await group.stop();
  let executed = 0;
  for (const report of reports) {
    executed += report.executed;
    result.latencyMs.push(...report.latencyMs);
  }
  result.extraExecutions = Math.max(0, executed - expected);
}
