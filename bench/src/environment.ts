import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { redisUrl, withPgClient } from './servers.js';

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface Environment {
  date: string;
  command: string;
  gitCommit: string | null;
  node: string;
  os: string;
  cpuModel: string;
  cpuCount: number;
  memoryGiB: number;
  loadAverageAtStart: number[];
  loadAverageAtEnd: number[];
  postgres: string;
  postgresSettings: Record<string, string>;
  redis: string;
  redisPersistence: string;
  packages: Record<string, string>;
}

/** Reads the installed version of a package from bench/node_modules, or of a workspace
 * package from packages/. */
export function packageVersion(name: string): string {
  const candidates = [
    join(BENCH_DIR, 'node_modules', name, 'package.json'),
    join(BENCH_DIR, '..', 'packages', name.replace('@zapjobs/', ''), 'package.json'),
  ];
  for (const path of candidates) {
    try {
      return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
    } catch {}
  }
  return 'not installed';
}

function gitCommit(): string | null {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: BENCH_DIR });
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: BENCH_DIR }).length > 0;
    return `${head.toString().trim()}${dirty ? ' (with uncommitted changes)' : ''}`;
  } catch {
    return null;
  }
}

async function postgresInfo(): Promise<{ version: string; settings: Record<string, string> }> {
  return withPgClient(async (client) => {
    const version = (
      await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")
    ).rows[0]!.v;
    const { rows } = await client.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings
       WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')`,
    );
    return { version, settings: Object.fromEntries(rows.map((row) => [row.name, row.setting])) };
  });
}

async function redisInfo(): Promise<{ version: string; persistence: string }> {
  const redis = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const info = await redis.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    const save = (await redis.config('GET', 'save')) as string[];
    const appendonly = (await redis.config('GET', 'appendonly')) as string[];
    return { version, persistence: `save "${save[1] ?? ''}", appendonly ${appendonly[1] ?? ''}` };
  } finally {
    redis.disconnect();
  }
}

export async function readEnvironment(command: string, packages: string[]): Promise<Environment> {
  const processors = cpus();
  const postgres = await postgresInfo();
  const redis = await redisInfo();
  return {
    date: new Date().toISOString(),
    command,
    gitCommit: gitCommit(),
    node: process.version,
    os: `${process.platform} ${release()}`,
    cpuModel: processors[0]?.model ?? 'unknown',
    cpuCount: processors.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverageAtStart: loadavg(),
    loadAverageAtEnd: [],
    postgres: postgres.version,
    postgresSettings: postgres.settings,
    redis: redis.version,
    redisPersistence: redis.persistence,
    packages: Object.fromEntries(packages.map((name) => [name, packageVersion(name)])),
  };
}
