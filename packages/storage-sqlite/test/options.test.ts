import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidOptionError } from '@zapjobs/core/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStorage } from '../src/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'zapjobs-sqlite-options-'));
  dirs.push(dir);
  return dir;
}

function rejection(create: () => unknown): InvalidOptionError {
  try {
    create();
  } catch (error) {
    if (error instanceof InvalidOptionError) return error;
    throw error;
  }
  throw new Error('the options were accepted');
}

describe('SqliteStorage options', () => {
  it('rejects an unknown key, naming it and the known ones', () => {
    const path = join(tempDir(), 'a.db');
    const error = rejection(() => new SqliteStorage({ path, filename: path } as never));
    expect(error.option).toBe('filename');
    expect(error.message).toContain(
      'Expected a known option of SqliteStorage: path, busyTimeoutMs, busyRetryTimeoutMs, ' +
        'pollIntervalMs, synchronous.',
    );
  });

  it('rejects options that are not an object', () => {
    expect(rejection(() => new SqliteStorage('a.db' as never)).option).toBe('options');
  });

  it('names the path and the fix when its directory does not exist', () => {
    const missing = join(tempDir(), 'missing', 'nested');
    const path = join(missing, 'zapjobs.db');
    const error = rejection(() => new SqliteStorage({ path }));
    expect(error.option).toBe('path');
    expect(error.value).toBe(path);
    expect(error.message).toContain(`create the directory ${JSON.stringify(missing)} first`);
  });
});
