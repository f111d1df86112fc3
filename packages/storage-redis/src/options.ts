import type { Logger } from '@zapjobs/core';
import { assertKnownKeys, assertPlainObject, InvalidOptionError } from '@zapjobs/core/storage';
import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';

/**
 * How long finished runs are kept before the automatic pruning step deletes them with their
 * events, state values and dependency edges. An age of `null` keeps runs of that state until
 * `purgeRuns` deletes them.
 */
export interface RetentionOptions {
  /** Age in ms after which completed runs are deleted. Default 86_400_000 (one day). */
  completedMs?: number | null;
  /** Age in ms after which failed (dead-letter) runs are deleted. Default 604_800_000 (7 days). */
  failedMs?: number | null;
  /** Age in ms after which cancelled runs are deleted. Default 604_800_000 (7 days). */
  cancelledMs?: number | null;
  /** Time in ms between two pruning steps of this process. Default 60_000. */
  intervalMs?: number;
  /** Most runs one pruning script deletes; a step repeats it until fewer are left. Default 1000. */
  batchSize?: number;
}

/** Options of {@link RedisStorage}. Give at most one of `url`, `cluster` and `connection`. */
export interface RedisStorageOptions {
  /** Redis URL such as `redis://127.0.0.1:6379`. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** Extra ioredis options for the connection that `url` opens. */
  redisOptions?: RedisOptions;
  /** Redis Cluster to connect to: startup nodes and ioredis cluster options. */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions };
  /**
   * An existing ioredis client or cluster client. The storage does not close it; it opens one
   * more connection from it (`duplicate()`) for notifications and closes that one.
   */
  connection?: Redis | Cluster;
  /**
   * Namespace of every key, used as the Redis Cluster hash tag: keys look like `{zj}:run:<id>`.
   * Storages with different prefixes share nothing. Default `zj`.
   */
  prefix?: string;
  /** Logger for warnings (persistence off, failed pruning). Default: `consoleLogger('info')`. */
  logger?: Logger;
  /** Automatic pruning of finished runs, or `false` to turn it off. Defaults as listed there. */
  retention?: RetentionOptions | false;
  /**
   * Milliseconds a command may wait for its reply before it fails with a StorageError that
   * names the operation and this timeout. The connection is then reset, so that later
   * commands do not queue behind a socket that a network failure left silently dead. ioredis
   * sends commands that had no reply again on the new connection, so the operation that
   * timed out may still take effect, as its error warns. It applies to the connections this
   * storage opens (from `url` or `cluster`) and to its notification connection. On a
   * `connection` passed in, set the ioredis option `commandTimeout` yourself. Default 60_000, or
   * `redisOptions.commandTimeout` when that is given.
   */
  commandTimeoutMs?: number;
}

const OPTION_KEYS = [
  'url',
  'redisOptions',
  'cluster',
  'connection',
  'prefix',
  'logger',
  'retention',
  'commandTimeoutMs',
] as const satisfies readonly (keyof RedisStorageOptions)[];
// Fails to compile when an option is added to the interface but not to OPTION_KEYS.
const EVERY_OPTION_LISTED: Exclude<
  keyof RedisStorageOptions,
  (typeof OPTION_KEYS)[number]
> extends never
  ? true
  : false = true;
void EVERY_OPTION_LISTED;

/**
 * Rejects options that are not an object, have a key this storage does not know (such as
 * `host`, which belongs in `url` or `redisOptions`), or a `connection` that is not an ioredis
 * client.
 */
export function checkStorageOptions(options: unknown): asserts options is RedisStorageOptions {
  assertPlainObject('options', options);
  assertKnownKeys(options, OPTION_KEYS, '', ' of RedisStorage (host and port go in url)');
  const { connection } = options as RedisStorageOptions;
  if (
    connection !== undefined &&
    (typeof connection !== 'object' ||
      connection === null ||
      typeof (connection as { duplicate?: unknown }).duplicate !== 'function')
  ) {
    throw new InvalidOptionError(
      'connection',
      connection,
      'an ioredis Redis or Cluster client; to connect by address, pass url instead',
    );
  }
}

/** Returns the checked `commandTimeoutMs`, from the option, `redisOptions` or the default. */
export function resolveCommandTimeout(options: RedisStorageOptions): number {
  const value = options.commandTimeoutMs ?? options.redisOptions?.commandTimeout ?? 60_000;
  const option =
    options.commandTimeoutMs === undefined && options.redisOptions?.commandTimeout !== undefined
      ? 'redisOptions.commandTimeout'
      : 'commandTimeoutMs';
  return checkPositive(option, value);
}

export interface ResolvedRetention {
  ages: Array<[state: 'completed' | 'failed' | 'cancelled', ageMs: number]>;
  intervalMs: number;
  batchSize: number;
}

const DAY_MS = 86_400_000;

export function resolvePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix.length === 0 || /[{}]/.test(prefix)) {
    throw new InvalidOptionError('prefix', prefix, 'a non-empty string without "{" or "}"');
  }
  return prefix;
}

function checkPositive(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(option, value, 'a positive integer');
  }
  return value;
}

export function resolveRetention(
  options: RetentionOptions | false | undefined,
): ResolvedRetention | null {
  if (options === false) return null;
  const given = options ?? {};
  const ages: ResolvedRetention['ages'] = [];
  const defaults = { completed: DAY_MS, failed: 7 * DAY_MS, cancelled: 7 * DAY_MS } as const;
  for (const state of ['completed', 'failed', 'cancelled'] as const) {
    const option = `retention.${state}Ms`;
    const value = given[`${state}Ms`];
    if (value === null) continue;
    if (value === undefined) {
      ages.push([state, defaults[state]]);
    } else if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new InvalidOptionError(option, value, 'a non-negative integer number of ms, or null');
    } else {
      ages.push([state, value]);
    }
  }
  return {
    ages,
    intervalMs: checkPositive('retention.intervalMs', given.intervalMs ?? 60_000),
    batchSize: checkPositive('retention.batchSize', given.batchSize ?? 1000),
  };
}
