import type { Logger } from '@zapjobs/core';
import { InvalidOptionError } from '@zapjobs/core/storage';
import { Cluster, Redis } from 'ioredis';
import type { RedisStorageOptions } from './options.js';

/** The connection a storage uses, and whether the storage opened it (and so closes it). */
export interface StorageConnection {
  connection: Redis | Cluster;
  owned: boolean;
}

// ioredis prefixes key names but not pub/sub channels, so notifications would miss listeners.
function rejectKeyPrefix(option: string, keyPrefix: string | undefined): void {
  if (keyPrefix) {
    throw new InvalidOptionError(
      `${option}.keyPrefix`,
      keyPrefix,
      'no ioredis keyPrefix: use the storage option prefix to separate namespaces',
    );
  }
}

/** Opens the connection that `url` or `cluster` name, or takes the given one. */
export function openConnection(options: RedisStorageOptions, logger: Logger): StorageConnection {
  const given = [options.url, options.cluster, options.connection].filter(
    (value) => value !== undefined,
  );
  if (given.length > 1) {
    throw new InvalidOptionError(
      'connection',
      `${given.length} of url, cluster and connection`,
      'at most one of url, cluster and connection',
    );
  }
  if (options.connection) {
    rejectKeyPrefix('connection', options.connection.options.keyPrefix);
    return { connection: options.connection, owned: false };
  }
  rejectKeyPrefix('redisOptions', options.redisOptions?.keyPrefix);
  rejectKeyPrefix('cluster.options', options.cluster?.options?.keyPrefix);

  const connection = options.cluster
    ? new Cluster(options.cluster.nodes, { enableAutoPipelining: true, ...options.cluster.options })
    : new Redis(options.url ?? 'redis://127.0.0.1:6379', {
        enableAutoPipelining: true,
        ...options.redisOptions,
      });
  // ioredis reconnects by itself; commands that fail meanwhile reject with the error.
  connection.on('error', (error: unknown) => {
    logger.debug({ error }, 'Redis connection error; reconnecting');
  });
  return { connection, owned: true };
}
