import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface QuickstartOptions {
  /** Directory whose files are indexed. */
  dir: string;
  /** Maximum number of files to index. */
  jobs: number;
  /** Probability, 0 to 1, that an attempt fails on purpose. */
  failRate: number;
  /** SQLite database file shared by the three worker processes. */
  db: string;
  /** Path of the JSON report that the fan-in run writes. */
  reportPath: string;
  /** Worker processes to start beside the in-process worker. */
  workerProcesses: number;
  /** Concurrent runs per worker process. */
  concurrency: number;
}

const exampleRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = resolve(exampleRoot, '../..');

export const usage = `Usage: pnpm start [--dir PATH] [--jobs N] [--fail-rate R] [--db FILE]
                  [--workers N] [--concurrency N] [--report FILE]

  --dir PATH        directory to index (default: the repository's node_modules)
  --jobs N          maximum number of files to index (default: 6000)
  --fail-rate R     probability from 0 to 1 that an attempt fails on purpose (default: 0.05)
  --db FILE         SQLite database file (default: examples/quickstart/data/quickstart.db)
  --workers N       worker processes besides the in-process worker (default: 2)
  --concurrency N   concurrent runs per worker process (default: 8)
  --report FILE     report written by the fan-in run (default: examples/quickstart/data/report.json)`;

/** Parses the command line; throws an Error naming the bad flag and what it accepts. */
export function parseOptions(argv: readonly string[]): QuickstartOptions {
  const options: QuickstartOptions = {
    dir: join(repoRoot, 'node_modules'),
    jobs: 6_000,
    failRate: 0.05,
    db: join(exampleRoot, 'data', 'quickstart.db'),
    reportPath: join(exampleRoot, 'data', 'report.json'),
    workerProcesses: 2,
    concurrency: 8,
  };

  const args = argv.filter((arg) => arg !== '--');
  for (let index = 0; index < args.length; index++) {
    const flag = args[index];
    const value = args[index + 1];
    if (flag === '--help' || flag === '-h') throw new UsageRequest();
    if (value === undefined) throw new Error(`Missing value for ${flag}.\n\n${usage}`);
    index++;
    switch (flag) {
      case '--dir':
        options.dir = resolve(value);
        break;
      case '--jobs':
        options.jobs = parseInteger(flag, value, 1);
        break;
      case '--fail-rate':
        options.failRate = parseRate(flag, value);
        break;
      case '--db':
        options.db = resolve(value);
        break;
      case '--report':
        options.reportPath = resolve(value);
        break;
      case '--workers':
        options.workerProcesses = parseInteger(flag, value, 0);
        break;
      case '--concurrency':
        options.concurrency = parseInteger(flag, value, 1);
        break;
      default:
        throw new Error(`Unknown option ${JSON.stringify(flag)}.\n\n${usage}`);
    }
  }

  if (!existsSync(options.dir) || !statSync(options.dir).isDirectory()) {
    throw new Error(
      `--dir ${JSON.stringify(options.dir)} is not a directory. Pass an existing one.`,
    );
  }
  return options;
}

/** Thrown for --help, so the caller prints the usage and exits with 0. */
export class UsageRequest extends Error {}

function parseInteger(flag: string, value: string, min: number): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < min) {
    throw new Error(`Invalid ${flag} ${JSON.stringify(value)}: expected an integer >= ${min}.`);
  }
  return parsed;
}

function parseRate(flag: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 1) {
    throw new Error(`Invalid ${flag} ${JSON.stringify(value)}: expected a number from 0 to 1.`);
  }
  return parsed;
}
