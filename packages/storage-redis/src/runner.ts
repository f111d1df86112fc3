import type { Logger } from '@zapjobs/core';
import { InvalidOptionError, StorageError } from '@zapjobs/core/storage';
import type { Cluster, Redis } from 'ioredis';
import type { Flat } from './codec.js';
import { isCommandTimeout, resetConnection } from './connection.js';
import type { Notifier } from './notifier.js';
import type { ScriptName, ScriptRunner } from './scripts.js';

/** Runs the commands and scripts of one storage, mapping failures to StorageError. */
export class Runner {
  readonly backend = 'redis';
  readonly connection: Redis | Cluster;
  /** The namespace key prefix, such as `{zj}:`. */
  readonly prefixKey: string;
  readonly #origin: string;
  readonly #scripts: ScriptRunner;
  readonly #notifier: Notifier;
  readonly #timeouts: { commandTimeoutMs: number; owned: boolean; logger: Logger };

  constructor(
    connection: Redis | Cluster,
    prefixKey: string,
    origin: string,
    scripts: ScriptRunner,
    notifier: Notifier,
    timeouts: { commandTimeoutMs: number; owned: boolean; logger: Logger },
  ) {
    this.#timeouts = timeouts;
    this.connection = connection;
    this.prefixKey = prefixKey;
    this.#origin = origin;
    this.#scripts = scripts;
    this.#notifier = notifier;
  }

  key(suffix: string): string {
    return this.prefixKey + suffix;
  }

  /** Runs an operation, turning every failure into a StorageError that names it. */
  async call<T>(operation: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (error instanceof InvalidOptionError) throw error;
      if (isCommandTimeout(error)) throw this.#timedOut(operation, error);
      throw new StorageError(this.backend, operation, error);
    }
  }

  /** Resets an owned connection after a command timed out; returns the error to throw. */
  #timedOut(operation: string, error: unknown): StorageError {
    const { commandTimeoutMs, owned, logger } = this.#timeouts;
    if (owned) resetConnection(this.connection, logger);
    const limit =
      commandTimeoutMs > 0
        ? `commandTimeoutMs (${commandTimeoutMs} ms)`
        : 'the commandTimeout of the given connection';
    const cause = new Error(
      `no reply from Redis within ${limit}` +
        (owned ? '; the connection was reset and the next call uses a new one' : '') +
        '. Raise the timeout if commands this slow are expected',
      { cause: error },
    );
    return new StorageError(this.backend, operation, cause);
  }

  /** Reads a hash of the namespace as a flat field/value list, or null when it is missing. */
  async hash(operation: string, suffix: string): Promise<Flat | null> {
    const fields = await this.call(operation, () => this.connection.hgetall(this.key(suffix)));
    const flat = Object.entries(fields).flat();
    return flat.length === 0 ? null : flat;
  }

  /** Runs a script whose reply is the result itself. */
  async read<T>(operation: string, script: ScriptName, args: readonly string[]): Promise<T> {
    return (await this.call(operation, () =>
      this.#scripts.run(script, [this.#origin, ...args]),
    )) as T;
  }

  /** Runs a script that replies {result, notification} and dispatches the notification here. */
  async change<T>(operation: string, script: ScriptName, args: readonly string[]): Promise<T> {
    const [result, notification] = await this.read<[T, string | null]>(operation, script, args);
    if (notification !== null) this.#notifier.dispatch(notification, true);
    return result;
  }
}
