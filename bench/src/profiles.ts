import type { CellSpec } from './cell.js';

/** Cell settings that a scenario fixes: all but the system, the repetition and the run's
 * options. */
export type ScenarioCell = Omit<CellSpec, 'systemId' | 'scenario' | 'repetition' | 'cpuProfileDir'>;

/** A scenario: the cell settings every system in it runs with. */
export interface Scenario {
  /** Stable name used in the JSON results and RESULTS.md, such as `c=8 x1`. */
  name: string;
  cell: ScenarioCell;
  /** Whether the raw limits run here; their claim loop ignores concurrency, so they run once
   * per process count. */
  includeLimits: boolean;
}

export interface Profile {
  name: 'quick' | 'full';
  repetitions: number;
  scenarios: Scenario[];
  /** Whether systems marked `fullProfileOnly` run. */
  allSystems: boolean;
}

/** Name of the relay scenario, for `--scenarios`. */
export const RELAY_SCENARIO = 'relay';

/** SHA-256 rounds of a CPU-bound job, about 2 ms on one current x86 core once warmed up. */
const CPU_ROUNDS = 1500;

function processing(
  concurrency: number,
  processes: number,
  count: number,
  capMs: number,
): ScenarioCell {
  return {
    singleCount: 0,
    bulkCount: count,
    bulkBatchSize: 1000,
    cpuShare: 0,
    cpuRounds: 0,
    concurrency,
    processes,
    processCapMs: capMs,
    latencyCount: 0,
    latencyGapMs: [0, 0],
    phaseTailMs: 5_000,
    delayedCount: 0,
    delayMs: [0, 0],
    relayCount: 0,
    relayWarmupCount: 0,
    relayCapMs: 0,
  };
}

/** Sequential enqueue-and-wait round trips of no-op jobs, with a worker at concurrency 8 in
 * one worker process; only systems with the relay trait run it. */
function relay(count: number, tailMs: number, capMs: number): Scenario {
  return {
    name: RELAY_SCENARIO,
    includeLimits: false,
    cell: {
      ...processing(8, 1, 0, 0),
      phaseTailMs: tailMs,
      relayCount: count,
      relayWarmupCount: 20,
      relayCapMs: capMs,
    },
  };
}

export const QUICK: Profile = {
  name: 'quick',
  repetitions: 3,
  allSystems: false,
  scenarios: [
    {
      name: 'c=8 x1',
      includeLimits: true,
      cell: {
        // With 2,000 jobs the phase lasted about 100 ms and mostly measured how fast a new
        // worker process warms up. With 10,000 (about 300 ms) one system's repetitions still
        // spread by up to half, so the quick profile takes the full profile's 20,000.
        ...processing(8, 1, 20_000, 5_000),
        singleCount: 100,
        // The p50 of 25 samples moved by up to 1.5 ms between repetitions of one system, more
        // than the difference between systems. 100 samples take about 1.5 s more per cell.
        latencyCount: 100,
        latencyGapMs: [10, 30],
        phaseTailMs: 2_500,
        delayedCount: 20,
        delayMs: [100, 400],
      },
    },
    relay(200, 2_500, 5_000),
  ],
};

const FULL_COUNT = 20_000;
const FULL_CAP_MS = 30_000;

export const FULL: Profile = {
  name: 'full',
  repetitions: 3,
  allSystems: true,
  scenarios: [
    {
      name: 'c=8 x1',
      includeLimits: true,
      cell: {
        ...processing(8, 1, FULL_COUNT, FULL_CAP_MS),
        singleCount: 1000,
        latencyCount: 200,
        latencyGapMs: [10, 40],
        delayedCount: 100,
        delayMs: [200, 2000],
      },
    },
    { name: 'c=1 x1', includeLimits: false, cell: processing(1, 1, FULL_COUNT, FULL_CAP_MS) },
    { name: 'c=64 x1', includeLimits: false, cell: processing(64, 1, FULL_COUNT, FULL_CAP_MS) },
    { name: 'c=1 x2', includeLimits: false, cell: processing(1, 2, FULL_COUNT, FULL_CAP_MS) },
    { name: 'c=8 x2', includeLimits: true, cell: processing(8, 2, FULL_COUNT, FULL_CAP_MS) },
    { name: 'c=64 x2', includeLimits: false, cell: processing(64, 2, FULL_COUNT, FULL_CAP_MS) },
    {
      name: 'cpu c=8 x1',
      includeLimits: false,
      cell: { ...processing(8, 1, 4000, FULL_CAP_MS), cpuShare: 0.25, cpuRounds: CPU_ROUNDS },
    },
    {
      name: 'cpu c=8 x2',
      includeLimits: false,
      cell: { ...processing(8, 2, 4000, FULL_CAP_MS), cpuShare: 0.25, cpuRounds: CPU_ROUNDS },
    },
    relay(1000, 5_000, 2 * FULL_CAP_MS),
  ],
};
