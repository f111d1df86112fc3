import type { Logger } from '@zapjobs/core';
import { InvalidOptionError } from '@zapjobs/core/storage';
import { Cluster, Redis } from 'ioredis';
import { type RedisStorageOptions, resolveCommandTimeout } from './options.js';

/** The connection a storage uses, and whether the storage opened it (and so closes it). */
export interface StorageConnection {
  connection: Redis | Cluster;
  owned: boolean;
  /** Command timeout of the connection in ms, named in errors; 0 when unknown (given one). */
  commandTimeoutMs: number;
}

/** Maximum wait of `migrate()` for a connection that is not ready yet, in ms. */
export const READY_WAIT_MS = 10_000;

/** The outcome of {@link waitUntilReady}: ready, or the last connection error of the wait. */
export type ReadyWait = { ready: true } | { ready: false; lastError: unknown };

/**
 * Waits until the connection is ready, at most `waitMs`. A lazy connection is connected first.
 * A closed one is left to fail at its first command. Without this wait, a command sent before
 * the first connection waits out its whole command timeout when the server is unreachable,
 * then reports a timeout instead of the connection error.
 */
export async function waitUntilReady(
  connection: Redis | Cluster,
  waitMs: number,
): Promise<ReadyWait> {
  if (connection.status === 'ready' || connection.status === 'end') return { ready: true };
  let lastError: unknown;
  let timer: NodeJS.Timeout | undefined;
  let onReady = (): void => {};
  const onError = (error: unknown): void => {
    lastError = error;
  };
  try {
    const ready = await new Promise<boolean>((resolve) => {
      onReady = () => resolve(true);
      connection.once('ready', onReady);
      connection.on('error', onError);
      timer = setTimeout(() => resolve(false), waitMs);
      if (connection.status === 'wait') connection.connect().catch(onError);
      // It may have become ready before the listener was added.
      if (connection.status === 'ready') resolve(true);
    });
    return ready ? { ready: true } : { ready: false, lastError };
  } finally {
    clearTimeout(timer);
    connection.off('ready', onReady);
    connection.off('error', onError);
  }
}

/** True for the rejection ioredis gives a command that had no reply within `commandTimeout`. */
export function isCommandTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}

/**
 * Drops the socket of a connection whose command timed out and opens a new one. A command
 * without a reply means the socket may be silently dead (half-open after a network failure),
 * and every later command would queue behind it. Does nothing while already reconnecting.
 */
export function resetConnection(connection: Redis | Cluster, logger: Logger): void {
  if (connection.status !== 'ready') return;
  logger.warn({}, 'Redis command timed out; dropping the connection and opening a new one');
  connection.disconnect(true);
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
    return { connection: options.connection, owned: false, commandTimeoutMs: 0 };
  }
  rejectKeyPrefix('redisOptions', options.redisOptions?.keyPrefix);
  rejectKeyPrefix('cluster.options', options.cluster?.options?.keyPrefix);

  const commandTimeoutMs = resolveCommandTimeout(options);
  // NOTE: ioredis sends commands that had no reply again on the new connection (its
  // autoResendUnfulfilledCommands), so a script whose caller got a timeout can still run.
  // Turning that off would leave commands in flight at a server restart without any reply.
  const timeouts = { commandTimeout: commandTimeoutMs };
  const connection = options.cluster
    ? new Cluster(options.cluster.nodes, {
        enableAutoPipelining: true,
        ...options.cluster.options,
        redisOptions: { ...options.cluster.options?.redisOptions, ...timeouts },
      })
    : new Redis(options.url ?? 'redis://127.0.0.1:6379', {
        enableAutoPipelining: true,
        ...options.redisOptions,
        ...timeouts,
      });
  // ioredis reconnects by itself; commands that fail meanwhile reject with the error.
  connection.on('error', (error: unknown) => {
    logger.debug({ error }, 'Redis connection error; reconnecting');
  });
  return { connection, owned: true, commandTimeoutMs };
}
