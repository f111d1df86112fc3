import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { countLines } from '../src/jobs.js';
import { parseOptions } from '../src/options.js';

const run = promisify(execFile);
const exampleRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoNodeModules = resolve(exampleRoot, '../../node_modules');
const tempDir = mkdtempSync(join(tmpdir(), 'zapjobs-quickstart-'));

afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

async function runQuickstart(args: string[]) {
  return run(process.execPath, ['--import', 'tsx', join(exampleRoot, 'src/main.ts'), ...args], {
    cwd: exampleRoot,
    maxBuffer: 16 * 1024 * 1024,
  });
}

function tableValue(output: string, label: string): string {
  const row = output.split('\n').find((line) => line.startsWith(`| ${label} `));
  if (row === undefined) throw new Error(`row "${label}" missing from output:\n${output}`);
  return row.split('|')[2]!.trim();
}

describe('quick start demo', () => {
  const db = join(tempDir, 'demo.db');
  const report = join(tempDir, 'report.json');
  const args = ['--dir', repoNodeModules, '--jobs', '5000', '--db', db, '--report', report];

  it('indexes 5,000 real files with three processes, none lost or doubled', async () => {
    const { stdout } = await runQuickstart([...args, '--fail-rate', '0.05']);

    expect(tableValue(stdout, 'runs in the database')).toBe('5000');
    expect(tableValue(stdout, 'lost (not finished)')).toBe('0');
    expect(tableValue(stdout, 'duplicate completions')).toBe('0');
    expect(Number(tableValue(stdout, 'retried (needed > 1 attempt)'))).toBeGreaterThan(0);
    const completed = Number(tableValue(stdout, 'completed'));
    const deadLettered = Number(tableValue(stdout, 'dead-lettered'));
    expect(completed + deadLettered).toBe(5000);
    const workerRows = stdout.split('\n').filter((line) => line.startsWith('| completed by pid'));
    expect(workerRows).toHaveLength(3);

    const written = JSON.parse(readFileSync(report, 'utf8')) as { files: number };
    expect(written.files).toBe(completed);
  });

  it('creates no duplicates when run again on the same database', async () => {
    const { stdout } = await runQuickstart([...args, '--fail-rate', '0']);

    expect(stdout).toContain('Enqueued 0 new runs (5000 already in the database)');
    expect(tableValue(stdout, 'runs in the database')).toBe('5000');
    expect(tableValue(stdout, 'duplicate completions')).toBe('0');
    expect(tableValue(stdout, 'lost (not finished)')).toBe('0');
  });
});

describe('quick start helpers', () => {
  it('countLines matches wc -l plus an unterminated last line', () => {
    expect(countLines(Buffer.from(''))).toBe(0);
    expect(countLines(Buffer.from('a'))).toBe(1);
    expect(countLines(Buffer.from('a\n'))).toBe(1);
    expect(countLines(Buffer.from('a\nb'))).toBe(2);
    expect(countLines(Buffer.from('\n\n'))).toBe(2);
  });

  it('parseOptions rejects bad flags with the value and the fix', () => {
    expect(() => parseOptions(['--jobs', '0'])).toThrow(
      'Invalid --jobs "0": expected an integer >= 1.',
    );
    expect(() => parseOptions(['--fail-rate', '1.5'])).toThrow(
      'Invalid --fail-rate "1.5": expected a number from 0 to 1.',
    );
    expect(() => parseOptions(['--dir', join(tempDir, 'missing')])).toThrow('is not a directory');
    expect(() => parseOptions(['--bogus', '1'])).toThrow('Unknown option "--bogus"');
  });
});
