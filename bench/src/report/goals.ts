import type { Backend, SystemSpec } from '../adapter.js';
import type { CellResult } from '../cell.js';
import type { Scenario } from '../profiles.js';
import { markdownTable } from './markdown.js';
import { formatNumber, formatRatio, METRICS, type Metric, measure, zapjobsOn } from './metrics.js';
import { backendName, systemLabel } from './tables.js';

function metricByKey(key: string): Metric {
  const metric = METRICS.find((candidate) => candidate.key === key);
  if (!metric) throw new Error(`unknown metric "${key}"`);
  return metric;
}

function median(
  cells: readonly CellResult[],
  system: SystemSpec | undefined,
  scenario: Scenario,
  metric: Metric,
): number | null {
  if (!system) return null;
  return measure(cells, system, scenario, metric).summary?.median ?? null;
}

interface Goal {
  backend: Backend;
  text: string;
  metric: string;
  /**
   * Ids of the peers that set the target: the better of their medians, where present. Empty
   * for a goal with a fixed target.
   */
  peers: readonly string[];
  /** Factor on the peers' value, such as 3 for "3 × pg-boss". Default 1. */
  factor?: number;
  /** Target of a goal without peers. */
  fixedTarget?: number;
}

function peer(systems: readonly SystemSpec[], id: string): SystemSpec | undefined {
  return systems.find((system) => system.id === id);
}

function bestOf(values: (number | null)[], higherIsBetter: boolean): number | null {
  const present = values.filter((value): value is number => value !== null);
  if (present.length === 0) return null;
  return higherIsBetter ? Math.max(...present) : Math.min(...present);
}

/** Returns a goal's target in one scenario, or null when none of its peers ran. */
function targetOf(
  goal: Goal,
  cells: readonly CellResult[],
  systems: readonly SystemSpec[],
  scenario: Scenario,
): number | null {
  if (goal.fixedTarget !== undefined) return goal.fixedTarget;
  const metric = metricByKey(goal.metric);
  const values = goal.peers.map((id) => median(cells, peer(systems, id), scenario, metric));
  const best = bestOf(values, metric.higherIsBetter);
  return best === null ? null : best * (goal.factor ?? 1);
}

/** Goal for the relay round trip p50 on PostgreSQL and Redis, in ms. */
export const RELAY_P50_GOAL_MS = 5;

/** Backends that have the relay round-trip goal. */
export const RELAY_GOAL_BACKENDS: readonly Backend[] = ['postgres', 'redis'];

/** The performance goals set for the PostgreSQL and Redis backends. */
const GOALS: Goal[] = [
  {
    backend: 'postgres',
    text: 'PostgreSQL throughput ≥ graphile-worker best',
    metric: 'process',
    peers: ['graphile-best'],
  },
  {
    backend: 'postgres',
    text: 'PostgreSQL throughput ≥ 3 × pg-boss (its faster configuration)',
    metric: 'process',
    peers: ['pgboss-best', 'pgboss-default'],
    factor: 3,
  },
  {
    backend: 'postgres',
    text: 'PostgreSQL latency p50 ≤ graphile-worker (its lower configuration)',
    metric: 'latency-p50',
    peers: ['graphile-best', 'graphile-default'],
  },
  {
    backend: 'redis',
    text: 'Redis throughput ≥ BullMQ at the same concurrency (its faster configuration)',
    metric: 'process',
    peers: ['bullmq-redis-best', 'bullmq-redis-default'],
  },
  {
    backend: 'redis',
    text: 'Redis bulk enqueue ≥ BullMQ `addBulk`',
    metric: 'bulk',
    peers: ['bullmq-redis-best', 'bullmq-redis-default'],
  },
  ...RELAY_GOAL_BACKENDS.map(
    (backend): Goal => ({
      backend,
      text: `${backendName(backend)} relay round trip p50 ≤ ${RELAY_P50_GOAL_MS} ms`,
      metric: 'relay-p50',
      peers: [],
      fixedTarget: RELAY_P50_GOAL_MS,
    }),
  ),
];

export function verdict(
  value: number | null,
  target: number | null,
  higherIsBetter: boolean,
): string {
  if (value === null) return 'not measured';
  if (target === null) return 'no target (peer not run)';
  const met = higherIsBetter ? value >= target : value <= target;
  return met ? 'met' : '**NOT met**';
}

/** Renders a table of every goal in every scenario that measures its metric. */
export function renderGoals(
  cells: readonly CellResult[],
  systems: readonly SystemSpec[],
  scenarios: readonly Scenario[],
): string[] {
  const rows: string[][] = [];
  let anyCapped = false;
  for (const goal of GOALS) {
    const metric = metricByKey(goal.metric);
    for (const scenario of scenarios) {
      if (!metric.appliesTo(scenario) || scenario.cell.cpuShare > 0) continue;
      const target = targetOf(goal, cells, systems, scenario);
      const ours = (['default', 'best'] as const).map((config) =>
        median(cells, zapjobsOn(systems, goal.backend, config), scenario, metric),
      );
      // A capped peer sets its target from the jobs it processed before the cap.
      const cappedPeer = goal.peers.some((id) => {
        const system = peer(systems, id);
        return system !== undefined && measure(cells, system, scenario, metric).capped;
      });
      anyCapped ||= cappedPeer;
      const shown = (value: number | null) =>
        value === null ? '–' : formatNumber(value, metric.digits);
      rows.push([
        goal.text,
        scenario.name,
        shown(target) + (cappedPeer && target !== null ? ' †' : ''),
        shown(ours[0]!),
        shown(ours[1]!),
        verdict(ours[0]!, target, metric.higherIsBetter),
        verdict(ours[1]!, target, metric.higherIsBetter),
      ]);
    }
  }
  const table = markdownTable(
    ['goal', 'scenario', 'target', 'ZapJobs default', 'ZapJobs fast', 'default', 'fast'],
    ['left', 'left', 'right', 'right', 'right', 'left', 'left'],
    rows,
  );
  if (!anyCapped) return table;
  return [
    ...table,
    '',
    '† In some repetition the peer did not finish processing within the scenario cap. Its ' +
      'rate counts the jobs it processed before the cap.',
  ];
}

function withUnit(value: number, metric: Metric): string {
  const text = formatNumber(value, metric.digits);
  return Number.isFinite(value) ? `${text} ${metric.unit}` : text;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** Lists every scenario and metric where a peer beats both ZapJobs configurations. */
export function renderBehind(
  cells: readonly CellResult[],
  systems: readonly SystemSpec[],
  scenarios: readonly Scenario[],
): string[] {
  const lines: string[] = [];
  for (const scenario of scenarios) {
    for (const metric of METRICS) {
      if (!metric.appliesTo(scenario)) continue;
      for (const backend of ['sqlite', 'postgres', 'redis'] as const) {
        const configs = ['default', 'best'] as const;
        const ours = configs.map((config) =>
          median(cells, zapjobsOn(systems, backend, config), scenario, metric),
        );
        const oursBest = bestOf(ours, metric.higherIsBetter);
        if (oursBest === null) continue;
        const which = oursBest === ours[0] ? 'default' : 'fast';
        for (const system of systems) {
          if (system.family !== 'peer' || system.backend !== backend) continue;
          const theirs = median(cells, system, scenario, metric);
          if (theirs === null || theirs === 0) continue;
          const behind = metric.higherIsBetter ? oursBest < theirs : oursBest > theirs;
          if (!behind) continue;
          lines.push(
            `- ${backendName(backend)}, ${scenario.name}, ${lowerFirst(metric.title)}: ` +
              `ZapJobs (${which}) ${withUnit(oursBest, metric)} vs ` +
              `${systemLabel(system)} ${withUnit(theirs, metric)} (${formatRatio(oursBest / theirs)}).`,
          );
        }
      }
    }
  }
  return lines;
}

/** ZapJobs' processing throughput as a fraction of its backend's no-library limit. */
export function renderLimits(
  cells: readonly CellResult[],
  systems: readonly SystemSpec[],
  scenarios: readonly Scenario[],
): string[] {
  const metric = metricByKey('process');
  const rows: string[][] = [];
  for (const limit of systems.filter((system) => system.family === 'limit')) {
    for (const scenario of scenarios.filter((candidate) => candidate.includeLimits)) {
      const limitValue = median(cells, limit, scenario, metric);
      const row = [backendName(limit.backend), scenario.name];
      row.push(limitValue === null ? 'not run' : formatNumber(limitValue, 0));
      for (const config of ['default', 'best'] as const) {
        const ours = median(cells, zapjobsOn(systems, limit.backend, config), scenario, metric);
        row.push(ours === null ? '–' : formatNumber(ours, 0));
        row.push(
          ours === null || limitValue === null
            ? '–'
            : `${((100 * ours) / limitValue).toFixed(0)} %`,
        );
      }
      rows.push(row);
    }
  }
  return markdownTable(
    [
      'backend',
      'scenario',
      'limit, jobs/s',
      'ZapJobs default',
      'fraction',
      'ZapJobs fast',
      'fraction',
    ],
    ['left', 'left', 'right', 'right', 'right', 'right', 'right'],
    rows,
  );
}
