/**
 * Runs the benchmark: every scenario of the chosen profile for every system, with the order of the
 * systems reversed or rotated from one repetition to the next. Each cell runs in a fresh runner
 * process on fresh state. At the end it writes the raw JSON to bench/results/ and regenerates
 * bench/RESULTS.md.
 */
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { SystemSpec } from './adapter.js';
import type { CellResult, CellSpec } from './cell.js';
import { BENCH_DIR, readEnvironment } from './environment.js';
import { FULL, type Profile, QUICK } from './profiles.js';
import { writeResultsMarkdown } from './report/results-md.js';
import { removeLeftoverState } from './servers.js';
import { quantile } from './stats.js';
import { SYSTEMS } from './systems/registry.js';

const RUNNER_ENTRY = fileURLToPath(new URL('./runner.js', import.meta.url));
/** Time a runner gets beyond its processing cap before it is killed. */
const CELL_GRACE_MS = 120_000;

const HELP = `Usage: pnpm bench [--full] [--systems ids] [--scenarios names] [--repetitions n]

  --full            run the full profile (N = 20,000, every scenario, peers' defaults too);
                    the default is the quick profile, about seven minutes
  --systems ids     comma-separated system ids to run (default: all of the profile)
  --scenarios names comma-separated scenario names, such as "c=8 x1" (default: all)
  --repetitions n   repetitions of every cell (default: 3)
  --cpu-prof        write node --cpu-prof profiles of the processing workers to
                    bench/results/profiles/ (implies --no-markdown: profiling slows them)
  --no-markdown     write the JSON results but leave RESULTS.md as it is
  --report file     regenerate RESULTS.md from the JSON of an earlier run (for example
                    bench/results/latest.json after editing NOTES.md), then exit
  --list            print the system ids and scenario names, then exit`;

export interface BenchRun {
  profile: Profile['name'];
  /** Systems this profile left out, with the reason. */
  leftOut: { id: string; reason: string }[];
  environment: Awaited<ReturnType<typeof readEnvironment>>;
  systems: SystemSpec[];
  scenarios: Profile['scenarios'];
  cells: CellResult[];
}

function runnerFailure(spec: CellSpec, message: string): CellResult {
  return {
    spec,
    error: message,
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

/** Runs one cell in a fresh runner process. */
function runCell(spec: CellSpec): Promise<CellResult> {
  return new Promise((resolve) => {
    const child = fork(RUNNER_ENTRY, [JSON.stringify(spec)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: ['--no-deprecation'],
    });
    let result: CellResult | null = null;
    const timer = setTimeout(
      () => child.kill('SIGKILL'),
      spec.processCapMs + spec.relayCapMs + CELL_GRACE_MS,
    );
    child.on('message', (message: CellResult) => {
      result = message;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(
        result ?? runnerFailure(spec, `runner process exited with code ${code} signal ${signal}`),
      );
    });
  });
}

function formatRate(value: number | null): string {
  return value === null ? '-' : `${Math.round(value).toLocaleString('en-US')}/s`;
}

function p50(values: readonly number[]): string {
  return `${quantile(values, 0.5)!.toFixed(1)} ms`;
}

function describe(result: CellResult): string {
  if (result.error !== null) return `ERROR ${result.error.split('\n')[0]}`;
  const parts: string[] = [];
  if (result.relaySent > 0) {
    parts.push(`relay ${result.relayMs.length}/${result.relaySent}`);
    if (result.relayMs.length > 0) {
      parts.push(
        `round trip p50 ${p50(result.relayMs)} p99 ${quantile(result.relayMs, 0.99)!.toFixed(1)} ms`,
      );
    }
    if (result.latencyMs.length > 0) parts.push(`start p50 ${p50(result.latencyMs)}`);
    return `${parts.join(' ')} in ${(result.wallMs / 1000).toFixed(1)} s`;
  }
  parts.push(`process ${formatRate(result.processPerSec)}`);
  if (result.processCapped) parts.push(`(capped at ${result.processedCount})`);
  if (result.bulkPerSec !== null) parts.push(`bulk ${formatRate(result.bulkPerSec)}`);
  if (result.singlePerSec !== null) parts.push(`single ${formatRate(result.singlePerSec)}`);
  if (result.latencyMs.length > 0) parts.push(`p50 ${p50(result.latencyMs)}`);
  return `${parts.join(' ')} in ${(result.wallMs / 1000).toFixed(1)} s`;
}

function selectSystems(profile: Profile, ids: string | undefined): SystemSpec[] {
  if (ids) {
    const wanted = ids.split(',').map((id) => id.trim());
    for (const id of wanted) {
      if (!SYSTEMS.some((system) => system.id === id)) {
        throw new Error(`unknown system id "${id}"; run with --list to see the ids`);
      }
    }
    return SYSTEMS.filter((system) => wanted.includes(system.id));
  }
  return SYSTEMS.filter((system) => profile.allSystems || !system.fullProfileOnly);
}

async function main(): Promise<void> {
  // `pnpm bench -- --systems x` passes the separator through; the options follow it.
  const argv = process.argv.slice(2);
  const cliArgs = argv[0] === '--' ? argv.slice(1) : argv;
  const { values } = parseArgs({
    args: cliArgs,
    options: {
      full: { type: 'boolean', default: false },
      systems: { type: 'string' },
      scenarios: { type: 'string' },
      repetitions: { type: 'string' },
      'no-markdown': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      report: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (values.report) {
    const saved = JSON.parse(readFileSync(values.report, 'utf8')) as BenchRun;
    console.error(`wrote ${writeResultsMarkdown(saved)}`);
    return;
  }
  const profile = values.full ? FULL : QUICK;
  if (values.list) {
    console.log(`systems: ${SYSTEMS.map((system) => system.id).join(', ')}`);
    console.log(`scenarios (${profile.name}): ${profile.scenarios.map((s) => s.name).join(', ')}`);
    return;
  }

  const systems = selectSystems(profile, values.systems);
  const scenarioNames = values.scenarios?.split(',').map((name) => name.trim());
  const scenarios = profile.scenarios.filter(
    (scenario) => !scenarioNames || scenarioNames.includes(scenario.name),
  );
  if (scenarios.length === 0) throw new Error(`no scenario matches "${values.scenarios}"`);
  const repetitions = values.repetitions ? Number(values.repetitions) : profile.repetitions;
  if (!Number.isInteger(repetitions) || repetitions < 1) {
    throw new Error(`--repetitions must be a positive integer, got "${values.repetitions}"`);
  }

  const args = cliArgs.join(' ');
  const command =
    process.env.npm_lifecycle_event === 'bench'
      ? `pnpm bench ${args}`
      : `node dist/main.js ${args}`;
  const packages = [...new Set(systems.flatMap((system) => system.packages))].sort();
  const environment = await readEnvironment(command.trim(), packages);
  await removeLeftoverState();

  const cpuProfileDir = values['cpu-prof'] ? join(BENCH_DIR, 'results', 'profiles') : null;
  if (cpuProfileDir !== null) mkdirSync(cpuProfileDir, { recursive: true });

  const plan: CellSpec[] = [];
  for (let repetition = 1; repetition <= repetitions; repetition += 1) {
    for (const scenario of scenarios) {
      const eligible = systems.filter(
        (system) =>
          (system.family !== 'limit' || scenario.includeLimits) &&
          (scenario.cell.relayCount === 0 || system.traits.relay),
      );
      // Every second repetition runs the order backwards, and each pair of repetitions starts
      // one system further on, so no system always runs first or after the same neighbour.
      const shift = Math.floor((repetition - 1) / 2) % Math.max(1, eligible.length);
      const rotated = [...eligible.slice(shift), ...eligible.slice(0, shift)];
      const ordered = repetition % 2 === 0 ? rotated.reverse() : rotated;
      for (const system of ordered) {
        plan.push({
          ...scenario.cell,
          systemId: system.id,
          scenario: scenario.name,
          repetition,
          cpuProfileDir,
        });
      }
    }
  }

  console.error(`${profile.name} profile: ${plan.length} cells, ${systems.length} systems`);
  const began = Date.now();
  const cells: CellResult[] = [];
  for (const [index, spec] of plan.entries()) {
    const result = await runCell(spec);
    cells.push(result);
    const label = `${spec.systemId} [${spec.scenario}] rep ${spec.repetition}`;
    console.error(`[${index + 1}/${plan.length}] ${label}: ${describe(result)}`);
  }
  environment.loadAverageAtEnd = loadavg();
  console.error(`finished in ${((Date.now() - began) / 1000).toFixed(0)} s`);

  const leftOut = SYSTEMS.filter((system) => !systems.includes(system)).map((system) => ({
    id: system.id,
    reason: system.fullProfileOnly ?? 'not selected with --systems',
  }));
  const run: BenchRun = {
    profile: profile.name,
    leftOut,
    environment,
    systems,
    scenarios,
    cells,
  };
  const resultsDir = join(BENCH_DIR, 'results');
  mkdirSync(resultsDir, { recursive: true });
  // The JSON keeps each system's description; its load function does not serialize.
  const json = JSON.stringify(
    { ...run, systems: systems.map(({ load: _load, ...described }) => described) },
    null,
    1,
  );
  const stamp = environment.date.replaceAll(':', '-').replace(/\..*/, '');
  writeFileSync(join(resultsDir, `${profile.name}-${stamp}.json`), json);
  writeFileSync(join(resultsDir, 'latest.json'), json);
  if (!values['no-markdown'] && cpuProfileDir === null) {
    const path = writeResultsMarkdown(run);
    console.error(`wrote ${path}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
