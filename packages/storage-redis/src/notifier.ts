import type { Logger } from '@zapjobs/core';
import type { RunState, StorageListener } from '@zapjobs/core/storage';
import type { Cluster, Redis } from 'ioredis';

/**
 * A notification as the scripts publish it (see reply() in lua/lib/finish.lua), after the
 * origin id of the storage instance that made the change and a space.
 */
interface Notification {
  /** Server time of the change, in ms. */
  n: number;
  /** Queues with new claimable runs. */
  w: string[] | Record<string, never>;
  /** Queues with runs that come due later, with the earliest due time of each. */
  d: Array<[string, number]> | Record<string, never>;
  /** Runs that reached a terminal state. */
  f: Array<[string, RunState]> | Record<string, never>;
  /** Signals delivered to runs. */
  s: Array<[string, string]> | Record<string, never>;
  /** Set when runs of any queue may have become claimable. */
  a?: 1;
}

// Lua's cjson encodes an empty table as {}, so an empty list arrives as an object.
function list<T>(value: T[] | Record<string, never> | undefined): T[] {
  return Array.isArray(value) ? value : [];
}

/** The maximum delay of setTimeout. A later due time re-arms the timer when it fires. */
const MAX_TIMER_MS = 2_147_483_647;
/** Ping timeout of the subscriber connection when the command timeout is unknown, in ms. */
const DEFAULT_PING_TIMEOUT_MS = 30_000;
/** Maximum interval between two pings of the subscriber connection, in ms. */
const MAX_PING_INTERVAL_MS = 30_000;

/**
 * Delivers storage notifications to listeners. Changes made through this storage instance are
 * dispatched from the script's reply before the call returns. Changes made elsewhere arrive on
 * a dedicated subscriber connection (Redis pub/sub). For runs that come due later, a local timer
 * per queue calls `onWork` when the earliest of them is due; its delay comes from the server
 * times in the message, so the local clock's offset does not matter.
 */
export class Notifier {
  readonly #listeners = new Set<StorageListener>();
  readonly #dueTimers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #connection: Redis | Cluster;
  readonly #channel: string;
  readonly #origin: string;
  readonly #logger: Logger;
  /** Wait for a ping reply of the subscriber connection before it is reset, in ms. */
  readonly #pingTimeoutMs: number;
  #subscriber: Redis | Cluster | null = null;
  #subscribing: Promise<void> | null = null;
  #pingTimer: NodeJS.Timeout | null = null;

  constructor(
    connection: Redis | Cluster,
    channel: string,
    origin: string,
    logger: Logger,
    commandTimeoutMs: number,
  ) {
    this.#connection = connection;
    this.#channel = channel;
    this.#origin = origin;
    this.#logger = logger;
    this.#pingTimeoutMs = commandTimeoutMs > 0 ? commandTimeoutMs : DEFAULT_PING_TIMEOUT_MS;
  }

  get active(): boolean {
    return this.#listeners.size > 0;
  }

  async add(listener: StorageListener): Promise<() => Promise<void>> {
    this.#listeners.add(listener);
    try {
      await this.#ensureSubscriber();
    } catch (error) {
      this.#listeners.delete(listener);
      throw error;
    }
    return async () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) await this.close();
    };
  }

  /** Dispatches a notification; `local` ones come from this instance's own script replies. */
  dispatch(raw: string, local: boolean): void {
    if (this.#listeners.size === 0) return;
    const space = raw.indexOf(' ');
    if (!local && raw.slice(0, space) === this.#origin) return;
    let message: Notification;
    try {
      message = JSON.parse(raw.slice(space + 1)) as Notification;
    } catch (error) {
      this.#logger.warn({ error, message: raw }, 'Ignored a malformed Redis notification');
      return;
    }

    for (const [runId, state] of list(message.f)) {
      this.#emit((listener) => listener.onRunFinished?.(runId, state));
    }
    for (const [runId, name] of list(message.s)) {
      this.#emit((listener) => listener.onSignal?.(runId, name));
    }
    const queues = list(message.w);
    if (message.a === 1) {
      this.#emit((listener) => listener.onWork?.(null));
    } else if (queues.length > 0) {
      this.#emit((listener) => listener.onWork?.(queues));
    }
    for (const [queue, at] of list(message.d)) this.#armDueTimer(queue, at - message.n);
  }

  async close(): Promise<void> {
    for (const { timer } of this.#dueTimers.values()) clearTimeout(timer);
    this.#dueTimers.clear();
    if (this.#pingTimer !== null) clearInterval(this.#pingTimer);
    this.#pingTimer = null;
    const subscriber = this.#subscriber;
    this.#subscriber = null;
    this.#subscribing = null;
    if (subscriber) {
      subscriber.removeAllListeners('message');
      await subscriber.quit().catch(() => subscriber.disconnect());
    }
  }

  #emit(call: (listener: StorageListener) => void): void {
    for (const listener of this.#listeners) {
      try {
        call(listener);
      } catch (error) {
        this.#logger.error({ error }, 'A storage listener threw; the error was ignored');
      }
    }
  }

  #armDueTimer(queue: string, delayMs: number): void {
    const at = Date.now() + Math.max(0, delayMs);
    const current = this.#dueTimers.get(queue);
    if (current && current.at <= at) return;
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(
      () => {
        this.#dueTimers.delete(queue);
        if (Date.now() < at) {
          this.#armDueTimer(queue, at - Date.now());
          return;
        }
        this.#emit((listener) => listener.onWork?.([queue]));
      },
      Math.min(Math.max(0, delayMs), MAX_TIMER_MS),
    );
    timer.unref();
    this.#dueTimers.set(queue, { at, timer });
  }

  #ensureSubscriber(): Promise<void> {
    this.#subscribing ??= this.#openSubscriber().catch((error: unknown) => {
      this.#subscribing = null;
      throw error;
    });
    return this.#subscribing;
  }

  async #openSubscriber(): Promise<void> {
    const connection = this.#connection;
    const subscriber: Redis | Cluster = connection.isCluster
      ? (connection as Cluster).duplicate()
      : (connection as Redis).duplicate();
    subscriber.on('error', (error: unknown) => {
      this.#logger.debug({ error }, 'Redis subscriber connection error; reconnecting');
    });
    subscriber.on('message', (channel: string, raw: string) => {
      if (channel === this.#channel) this.dispatch(raw, false);
    });
    let readyCount = 0;
    subscriber.on('ready', () => {
      readyCount += 1;
      // Messages published while the connection was down are lost, so listeners should look.
      if (readyCount > 1) this.#emit((listener) => listener.onWork?.(null));
    });
    this.#subscriber = subscriber;
    try {
      await subscriber.subscribe(this.#channel);
    } catch (error) {
      this.#subscriber = null;
      subscriber.disconnect();
      throw error;
    }
    this.#startPing(subscriber);
  }

  /**
   * Pings the subscriber connection periodically, because a socket that a network failure
   * left silently dead delivers no message and reports no error. A ping without a reply in
   * time resets the connection, which subscribes again and makes every listener look for work.
   */
  #startPing(subscriber: Redis | Cluster): void {
    if (this.#pingTimer !== null) clearInterval(this.#pingTimer);
    const intervalMs = Math.min(this.#pingTimeoutMs, MAX_PING_INTERVAL_MS);
    this.#pingTimer = setInterval(() => {
      if (this.#subscriber !== subscriber || subscriber.status !== 'ready') return;
      let answered = false;
      const timer = setTimeout(() => {
        if (answered || this.#subscriber !== subscriber || subscriber.status !== 'ready') return;
        this.#logger.warn(
          { timeoutMs: this.#pingTimeoutMs },
          'Redis subscriber connection gave no ping reply in time; reconnecting it',
        );
        subscriber.disconnect(true);
      }, this.#pingTimeoutMs);
      timer.unref();
      subscriber
        .ping()
        .catch(() => undefined)
        .finally(() => {
          answered = true;
          clearTimeout(timer);
        });
    }, intervalMs);
    this.#pingTimer.unref();
  }
}
