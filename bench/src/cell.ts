/**
 * A cell is one run of one system: a fresh store, then the phases its spec turns on, in this
 * order: enqueue-to-start latency at low load, lateness of delayed jobs, single enqueue, bulk
 * enqueue, processing of everything enqueued, and relay round trips. Each cell runs in its own
 * runner process.
 */

export interface CellSpec {
  systemId: string;
  /** Name of the scenario group this cell belongs to, such as `process c=8 x1`. */
  scenario: string;
  repetition: number;
  /** Jobs enqueued one at a time, each call awaited, before any worker starts. 0 skips. */
  singleCount: number;
  /** Jobs enqueued in bulk before any worker starts. 0 skips. */
  bulkCount: number;
  /** Jobs per bulk call. */
  bulkBatchSize: number;
  /** Share (0..1) of bulk jobs that are CPU-bound; 0 for a no-op workload. */
  cpuShare: number;
  /** SHA-256 rounds of a CPU-bound job. */
  cpuRounds: number;
  /** Jobs each worker process runs at once. */
  concurrency: number;
  /** Worker processes. */
  processes: number;
  /** Processing stops and reports a partial rate when it has not finished after this long. */
  processCapMs: number;
  /** Jobs enqueued one at a time at low load for enqueue-to-start latency. 0 skips. */
  latencyCount: number;
  /** Pause between latency jobs, picked uniformly in [min, max] milliseconds. */
  latencyGapMs: [number, number];
  /** How long the latency and lateness phases wait for their jobs after the last enqueue or
   * due time. A job that has not started by then counts as infinitely late. */
  phaseTailMs: number;
  /** Directory for `node --cpu-prof` profiles of the worker processes, or null for none. */
  cpuProfileDir: string | null;
  /** Delayed jobs for the lateness phase. 0 skips. */
  delayedCount: number;
  /** Delay of each delayed job, picked uniformly in [min, max] milliseconds. */
  delayMs: [number, number];
  /** Enqueue-and-wait calls timed one after another, from the runner's client with a worker
   * in one worker process. 0 skips. A call not finished `phaseTailMs` after it began counts
   * as infinitely late. */
  relayCount: number;
  /** Untimed enqueue-and-wait calls before the timed ones. */
  relayWarmupCount: number;
  /** No timed call starts after this many milliseconds of timed calls, so that a slow system
   * ends its cell in bounded time; the samples are then those of the calls made. */
  relayCapMs: number;
}

export interface CellResult {
  spec: CellSpec;
  /** Null when the cell ran; otherwise why it did not (unsupported, failed, not installed). */
  error: string | null;
  startedAt: string;
  wallMs: number;
  singlePerSec: number | null;
  bulkPerSec: number | null;
  /** Jobs completed per second, first handler start to the store showing all completed. */
  processPerSec: number | null;
  /** True when processing hit the cap; processPerSec then counts only what completed. */
  processCapped: boolean;
  processedCount: number;
  latencyMs: number[];
  /** Latency jobs enqueued; fewer samples than this means some had not started in time. */
  latencySent: number;
  latenessMs: number[];
  /** Delayed jobs enqueued; fewer samples than this means some had not started in time. */
  latenessSent: number;
  /** Round trip of each completed enqueue-and-wait call, in ms: from just before the call to
   * its return. The enqueue-to-start latency of the same jobs is in `latencyMs`. */
  relayMs: number[];
  /** Timed enqueue-and-wait calls made: fewer than `spec.relayCount` when the cap stopped the
   * phase. Fewer samples than this means some calls did not finish in time. */
  relaySent: number;
  /** Peak resident set size of each worker process, in KiB. */
  workerMaxRssKiB: number[];
  /** Handler executions beyond one per job; above 0 means some job ran twice. */
  extraExecutions: number;
}
