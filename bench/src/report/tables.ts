import type { Backend, SystemSpec } from '../adapter.js';
import type { CellResult } from '../cell.js';
import type { Scenario } from '../profiles.js';
import { markdownTable } from './markdown.js';
import { formatNumber, formatRatio, type Metric, measure, zapjobsOn } from './metrics.js';

const BACKEND_ORDER: Backend[] = ['sqlite', 'postgres', 'redis'];
const BACKEND_NAMES: Record<Backend, string> = {
  sqlite: 'SQLite',
  postgres: 'PostgreSQL',
  redis: 'Redis',
};

export function backendName(backend: Backend): string {
  return BACKEND_NAMES[backend];
}

/** Systems in table order: by backend, ZapJobs first, then peers, then the limit. */
export function orderSystems(systems: readonly SystemSpec[]): SystemSpec[] {
  const familyRank = { zapjobs: 0, peer: 1, limit: 2 };
  return [...systems].sort(
    (a, b) =>
      BACKEND_ORDER.indexOf(a.backend) - BACKEND_ORDER.indexOf(b.backend) ||
      familyRank[a.family] - familyRank[b.family] ||
      a.product.localeCompare(b.product) ||
      (a.config === 'default' ? -1 : 1),
  );
}

export function systemLabel(system: SystemSpec): string {
  if (system.family === 'limit') return system.product;
  if (system.family === 'zapjobs')
    return `**ZapJobs** ${system.config === 'best' ? 'fast' : 'default'}`;
  return `${system.product} ${system.config}`;
}

/** Describes a scenario's shape in words, for a table heading. */
export function describeScenario(scenario: Scenario): string {
  const cell = scenario.cell;
  if ((cell.relayCount ?? 0) > 0) {
    return (
      `${cell.relayCount.toLocaleString('en-US')} \`enqueueAndWait\` calls of a no-op job, ` +
      `one after another, from a client process; concurrency ${cell.concurrency} in one ` +
      'worker process'
    );
  }
  const processes =
    cell.processes === 1 ? 'one worker process' : `${cell.processes} worker processes`;
  const workload =
    cell.cpuShare > 0
      ? `${cell.bulkCount.toLocaleString('en-US')} jobs, ${Math.round(cell.cpuShare * 100)} % ` +
        `CPU-bound (${cell.cpuRounds} SHA-256 rounds each), the rest no-op`
      : `${cell.bulkCount.toLocaleString('en-US')} no-op jobs in bulk`;
  const single =
    cell.singleCount > 0
      ? ` plus ${cell.singleCount.toLocaleString('en-US')} enqueued one at a time`
      : '';
  return `concurrency ${cell.concurrency} per process, ${processes}, ${workload}${single}`;
}

function ratioCell(
  cells: readonly CellResult[],
  zapjobs: SystemSpec | undefined,
  row: SystemSpec,
  scenario: Scenario,
  metric: Metric,
  rowMedian: number | undefined,
): string {
  if (!zapjobs || row.family === 'zapjobs' || rowMedian === undefined || rowMedian === 0) return '';
  const ours = measure(cells, zapjobs, scenario, metric).summary;
  if (!ours) return '';
  return formatRatio(ours.median / rowMedian);
}

/** Renders one metric of one scenario as a Markdown table with ratios to ZapJobs. */
export function renderMetricTable(
  cells: readonly CellResult[],
  systems: readonly SystemSpec[],
  scenario: Scenario,
  metric: Metric,
): string[] {
  const better = metric.higherIsBetter ? 'higher is better' : 'lower is better';
  const rows: string[][] = [];
  let footnote = false;

  for (const system of orderSystems(systems)) {
    if (system.family === 'limit' && !scenario.includeLimits) continue;
    const measured = measure(cells, system, scenario, metric);
    if (measured.planned === 0) continue;
    const summary = measured.summary;
    // A system that cannot measure this metric (the limits have no latency) gets no row.
    if (!summary && measured.errors.length === 0) continue;
    const ran = summary?.count ?? 0;
    const runs = `${ran}/${measured.planned}`;
    let median = 'not run';
    let spread = '';
    if (summary) {
      median = formatNumber(summary.median, metric.digits) + (measured.capped ? ' †' : '');
      spread = Number.isFinite(summary.min)
        ? `${formatNumber(summary.min, metric.digits)}–${formatNumber(summary.max, metric.digits)}`
        : '';
      footnote ||= measured.capped;
    }
    const defaultRatio = ratioCell(
      cells,
      zapjobsOn(systems, system.backend, 'default'),
      system,
      scenario,
      metric,
      summary?.median,
    );
    const fastRatio = ratioCell(
      cells,
      zapjobsOn(systems, system.backend, 'best'),
      system,
      scenario,
      metric,
      summary?.median,
    );
    rows.push([
      backendName(system.backend),
      systemLabel(system),
      median,
      spread,
      runs,
      defaultRatio,
      fastRatio,
    ]);
  }

  const lines = [
    `#### ${metric.title}, ${metric.unit} (${better})`,
    '',
    ...markdownTable(
      [
        'backend',
        'system',
        'median',
        'min–max',
        'runs',
        'ZapJobs default ÷ this',
        'ZapJobs fast ÷ this',
      ],
      ['left', 'left', 'right', 'right', 'right', 'right', 'right'],
      rows,
    ),
  ];
  if (rows.some((row) => row.includes('not started'))) {
    lines.push(
      '',
      `"not started": at that percentile, jobs had not started when the phase ended, ` +
        `${scenario.cell.phaseTailMs / 1000} s after the last one was enqueued or due; such ` +
        'jobs count as infinitely late.',
    );
  }
  if (footnote) {
    lines.push(
      '',
      `† Processing did not finish within ${scenario.cell.processCapMs / 1000} s; the rate ` +
        'counts the jobs completed by then.',
    );
  }
  lines.push('');
  return lines;
}
