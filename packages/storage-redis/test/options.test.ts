import { InvalidOptionError } from '@zapjobs/core/storage';
import { describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';

function rejection(create: () => unknown): InvalidOptionError {
  try {
    create();
  } catch (error) {
    if (error instanceof InvalidOptionError) return error;
    throw error;
  }
  throw new Error('the options were accepted');
}

describe('RedisStorage options', () => {
  it('rejects host and port, naming the key and the known ones', () => {
    const error = rejection(() => new RedisStorage({ host: '127.0.0.1', port: 6379 } as never));
    expect(error.option).toBe('host');
    expect(error.message).toContain(
      'Expected a known option of RedisStorage (host and port go in url): url, redisOptions, ' +
        'cluster, connection, prefix, logger, retention, commandTimeoutMs.',
    );
  });

  it('rejects a connection that is not an ioredis client', () => {
    const error = rejection(
      () => new RedisStorage({ connection: { host: '127.0.0.1', port: 6379 } } as never),
    );
    expect(error.option).toBe('connection');
    expect(error.message).toContain('an ioredis Redis or Cluster client');
  });

  it('rejects options that are not an object', () => {
    expect(rejection(() => new RedisStorage('redis://127.0.0.1' as never)).option).toBe('options');
  });
});
