/**
 * The Relay section of RESULTS.md. For each system that ran the relay scenario, it shows the
 * round trip of `enqueueAndWait` over a no-op job beside two enqueue-to-start latencies: of the
 * same jobs, and of the low-load latency phase. It also shows the goal and whether it is met.
 */
import type { SystemSpec } from '../adapter.js';
import type { CellResult } from '../cell.js';
import type { Scenario } from '../profiles.js';
import { RELAY_GOAL_BACKENDS, RELAY_P50_GOAL_MS, verdict } from './goals.js';
import { markdownTable } from './markdown.js';
import { formatNumber, isRelay, METRICS, type Metric, measure } from './metrics.js';
import { backendName, orderSystems, systemLabel } from './tables.js';

function metricByKey(key: string): Metric {
  const metric = METRICS.find((candidate) => candidate.key === key);
  if (!metric) throw new Error(`unknown metric "${key}"`);
  return metric;
}

function shown(value: number | null | undefined, metric: Metric): string {
  return value === null || value === undefined ? '–' : formatNumber(value, metric.digits);
}

/** Renders the Relay section, or nothing when no relay scenario ran. */
export function renderRelay(
  cells: readonly CellResult[],
  systems: readonly SystemSpec[],
  scenarios: readonly Scenario[],
): string[] {
  const relay = scenarios.find(isRelay);
  if (!relay) return [];
  const latencyScenario = scenarios.find((scenario) => scenario.cell.latencyCount > 0);
  const p50 = metricByKey('relay-p50');
  const p99 = metricByKey('relay-p99');
  const startP50 = metricByKey('relay-start-p50');
  const latencyP50 = metricByKey('latency-p50');

  const rows: string[][] = [];
  let capped = false;
  for (const system of orderSystems(systems)) {
    const measured = measure(cells, system, relay, p50);
    if (measured.planned === 0) continue;
    const mine = cells.filter(
      (cell) =>
        cell.spec.systemId === system.id && cell.spec.scenario === relay.name && !cell.error,
    );
    const short = mine.some((cell) => (cell.relaySent ?? 0) < relay.cell.relayCount);
    capped ||= short;
    const summary = measured.summary;
    const hasGoal = RELAY_GOAL_BACKENDS.includes(system.backend);
    rows.push([
      backendName(system.backend),
      systemLabel(system),
      summary ? shown(summary.median, p50) + (short ? ' ‡' : '') : 'failed',
      summary && Number.isFinite(summary.max)
        ? `${shown(summary.min, p50)}–${shown(summary.max, p50)}`
        : '',
      shown(measure(cells, system, relay, p99).summary?.median, p99),
      shown(measure(cells, system, relay, startP50).summary?.median, startP50),
      latencyScenario
        ? shown(measure(cells, system, latencyScenario, latencyP50).summary?.median, latencyP50)
        : '–',
      `${summary?.count ?? 0}/${measured.planned}`,
      hasGoal ? `≤ ${RELAY_P50_GOAL_MS}` : '–',
      hasGoal ? verdict(summary?.median ?? null, RELAY_P50_GOAL_MS, false) : '',
    ]);
  }

  const cell = relay.cell;
  const lines = [
    '## Relay: enqueue and wait',
    '',
    `Round trip of \`enqueueAndWait\` over a no-op job, in ms: a client process that runs no ` +
      `worker makes ${cell.relayWarmupCount} untimed calls, then ${cell.relayCount} timed calls ` +
      `one after another, while a worker at concurrency ${cell.concurrency} runs in one ` +
      'worker process. Each call is timed from just before it to its return. "Start, same ' +
      'jobs" is the enqueue-to-start latency of the timed jobs; the round trip minus it is ' +
      'roughly the cost of completing the run and notifying the waiting client. ' +
      (latencyScenario
        ? `"Start, ${latencyScenario.name}" is the low-load latency phase of that scenario. `
        : '') +
      'Medians over the repetitions; the goal is checked on the p50 median.',
    '',
    ...markdownTable(
      [
        'backend',
        'system',
        'round trip p50',
        'min–max',
        'round trip p99',
        'start p50, same jobs',
        latencyScenario ? `start p50, ${latencyScenario.name}` : 'start p50, latency phase',
        'runs',
        'goal p50',
        'goal',
      ],
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
      rows,
    ),
    '',
  ];
  if (capped) {
    lines.push(
      `‡ The timed calls stopped at the phase cap of ${cell.relayCapMs / 1000} s before all ` +
        `${cell.relayCount} were made; the percentiles are over the calls made.`,
      '',
    );
  }
  return lines;
}
