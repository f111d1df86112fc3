import type { Backend, SystemSpec } from '../adapter.js';
import type { CellResult } from '../cell.js';
import type { Scenario } from '../profiles.js';
import { quantile, type Summary, summarize } from '../stats.js';

/** One number a cell yields, reported per scenario as the median over repetitions. */
export interface Metric {
  key: string;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  digits: number;
  /** Whether the scenario measures this metric at all. */
  appliesTo(scenario: Scenario): boolean;
  extract(cell: CellResult): number | null;
}

const KIB_PER_MIB = 1024;

/** Returns the samples plus one infinite sample per job that had not started by the end of
 * its phase, so that missing jobs raise the percentiles instead of vanishing. */
function withMissing(samples: readonly number[], sent: number): number[] {
  const missing = Math.max(0, sent - samples.length);
  return [...samples, ...Array<number>(missing).fill(Number.POSITIVE_INFINITY)];
}

/** Whether a scenario times enqueue-and-wait round trips; results written before the relay
 * scenario existed have no relay fields. */
export function isRelay(scenario: Scenario): boolean {
  return (scenario.cell.relayCount ?? 0) > 0;
}

export const METRICS: Metric[] = [
  {
    key: 'process',
    title: 'Processing throughput',
    unit: 'jobs/s',
    higherIsBetter: true,
    digits: 0,
    appliesTo: (scenario) => scenario.cell.bulkCount + scenario.cell.singleCount > 0,
    extract: (cell) => cell.processPerSec,
  },
  {
    key: 'bulk',
    title: 'Bulk enqueue',
    unit: 'jobs/s',
    higherIsBetter: true,
    digits: 0,
    appliesTo: (scenario) => scenario.cell.singleCount > 0 && scenario.cell.bulkCount > 0,
    extract: (cell) => cell.bulkPerSec,
  },
  {
    key: 'single',
    title: 'Enqueue one at a time',
    unit: 'jobs/s',
    higherIsBetter: true,
    digits: 0,
    appliesTo: (scenario) => scenario.cell.singleCount > 0,
    extract: (cell) => cell.singlePerSec,
  },
  {
    key: 'latency-p50',
    title: 'Enqueue-to-start latency p50 at low load',
    unit: 'ms',
    higherIsBetter: false,
    digits: 1,
    appliesTo: (scenario) => scenario.cell.latencyCount > 0,
    extract: (cell) => quantile(withMissing(cell.latencyMs, cell.latencySent), 0.5),
  },
  {
    key: 'latency-p99',
    title: 'Enqueue-to-start latency p99 at low load',
    unit: 'ms',
    higherIsBetter: false,
    digits: 1,
    appliesTo: (scenario) => scenario.cell.latencyCount > 0,
    extract: (cell) => quantile(withMissing(cell.latencyMs, cell.latencySent), 0.99),
  },
  {
    key: 'lateness-p50',
    title: 'Lateness of delayed jobs p50',
    unit: 'ms',
    higherIsBetter: false,
    digits: 1,
    appliesTo: (scenario) => scenario.cell.delayedCount > 0,
    extract: (cell) => quantile(withMissing(cell.latenessMs, cell.latenessSent), 0.5),
  },
  {
    key: 'lateness-p99',
    title: 'Lateness of delayed jobs p99',
    unit: 'ms',
    higherIsBetter: false,
    digits: 1,
    appliesTo: (scenario) => scenario.cell.delayedCount > 0,
    extract: (cell) => quantile(withMissing(cell.latenessMs, cell.latenessSent), 0.99),
  },
  {
    key: 'relay-p50',
    title: 'Relay round trip p50',
    unit: 'ms',
    higherIsBetter: false,
    digits: 1,
    appliesTo: isRelay,
    extract: (cell) => quantile(withMissing(cell.relayMs ?? [], cell.relaySent ?? 0), 0.5),
  },
  {
    key: 'relay-p99',
    title: 'Relay round trip p99',
    unit: 'ms',
    higherIsBetter: false,
    digits: 1,
    appliesTo: isRelay,
    extract: (cell) => quantile(withMissing(cell.relayMs ?? [], cell.relaySent ?? 0), 0.99),
  },
  {
    key: 'relay-start-p50',
    title: 'Enqueue-to-start latency p50 of the relay jobs',
    unit: 'ms',
    higherIsBetter: false,
    digits: 1,
    appliesTo: isRelay,
    extract: (cell) => quantile(withMissing(cell.latencyMs, cell.latencySent), 0.5),
  },
  {
    key: 'rss',
    title: 'Peak RSS of a worker process',
    unit: 'MiB',
    higherIsBetter: false,
    digits: 0,
    appliesTo: (scenario) => scenario.cell.bulkCount > 0 && scenario.cell.processes === 1,
    extract: (cell) =>
      cell.workerMaxRssKiB.length === 0 ? null : Math.max(...cell.workerMaxRssKiB) / KIB_PER_MIB,
  },
];

/** A metric's value for one system in one scenario, over the repetitions that ran. */
export interface Measured {
  summary: Summary | null;
  /** Repetitions that were planned for this system and scenario. */
  planned: number;
  /** True when any repetition hit the processing cap. */
  capped: boolean;
  /** First lines of the errors of failed repetitions. */
  errors: string[];
}

export function measure(
  cells: readonly CellResult[],
  system: SystemSpec,
  scenario: Scenario,
  metric: Metric,
): Measured {
  const mine = cells.filter(
    (cell) => cell.spec.systemId === system.id && cell.spec.scenario === scenario.name,
  );
  const values: number[] = [];
  const errors: string[] = [];
  let capped = false;
  for (const cell of mine) {
    if (cell.error !== null) {
      errors.push(cell.error.split('\n')[0]!);
      continue;
    }
    const value = metric.extract(cell);
    if (value !== null && !Number.isNaN(value)) values.push(value);
    if (metric.key === 'process' && cell.processCapped) capped = true;
  }
  return { summary: summarize(values), planned: mine.length, capped, errors };
}

/** Finds the ZapJobs system on a backend in a configuration, if the run included it. */
export function zapjobsOn(
  systems: readonly SystemSpec[],
  backend: Backend,
  config: SystemSpec['config'],
): SystemSpec | undefined {
  return systems.find(
    (system) =>
      system.family === 'zapjobs' && system.backend === backend && system.config === config,
  );
}

export function formatNumber(value: number, digits: number): string {
  if (value === Number.POSITIVE_INFINITY) return 'not started';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio) || ratio === 0) return '–';
  if (ratio >= 10) return `${ratio.toFixed(0)}×`;
  return `${ratio.toFixed(2)}×`;
}
