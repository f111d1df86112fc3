import { InvalidOptionError } from '@zapjobs/core/storage';
import { describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { PG_URL } from './helpers.js';

function rejection(create: () => unknown): InvalidOptionError {
  try {
    create();
  } catch (error) {
    if (error instanceof InvalidOptionError) return error;
    throw error;
  }
  throw new Error('the options were accepted');
}

describe('PostgresStorage options', () => {
  it('rejects an unknown key such as url, naming it and the known ones', () => {
    const error = rejection(() => new PostgresStorage({ url: PG_URL } as never));
    expect(error.option).toBe('url');
    expect(error.value).toBe(PG_URL);
    expect(error.message).toContain(
      'Expected a known option of PostgresStorage: connectionString,',
    );
    expect(error.message).toContain('applicationName, asyncClaimCommit, logger.');
  });

  it('rejects a non-boolean asyncClaimCommit', () => {
    const error = rejection(
      () => new PostgresStorage({ connectionString: PG_URL, asyncClaimCommit: 'yes' as never }),
    );
    expect(error.option).toBe('asyncClaimCommit');
    expect(error.value).toBe('yes');
    expect(error.message).toContain('true or false');
  });

  it('rejects options that are not an object', () => {
    expect(rejection(() => new PostgresStorage([] as never)).option).toBe('options');
  });
});
