import type { Logger } from '@zapjobs/core';
import type { RunState, StorageListener } from '@zapjobs/core/storage';
import pg from 'pg';
import { destroySocket, toStorageError } from './db.js';

/** How long a polite close of the LISTEN connection may take before its socket is destroyed. */
const CLOSE_WAIT_MS = 1_000;

export interface NotifierOptions {
  /** Creates the dedicated LISTEN connection (not connected yet). */
  createClient(): pg.Client;
  channel: string;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /**
   * Interval of the cheap statement that proves the connection alive, in ms. A reply that does
   * not come within the client's `query_timeout` counts as a lost connection.
   */
  pingIntervalMs: number;
  logger: Logger;
}

/**
 * Delivers the NOTIFY messages of one schema to subscribed listeners over one dedicated
 * connection.
 *
 * The connection opens with the first subscriber and closes with the last. When it drops
 * (server restart, pg_terminate_backend, network failure) it reconnects with exponential
 * backoff and then calls every `onWork(null)`, because the notifications of work enqueued
 * while it was down reached no listener. `onRunFinished` and `onSignal` messages sent during
 * the outage are lost, so callers that wait on them need a fallback poll.
 *
 * A connection that a network failure left silently dead delivers nothing and reports no
 * error. A periodic `select 1` checks it, and a ping without a reply is handled as a drop.
 *
 * Work notifications that arrive together are merged into one `onWork` call per listener.
 */
export class Notifier {
  private readonly listeners = new Set<StorageListener>();
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private reconnectDelayMs: number;
  private closed = false;
  private pendingQueues: Set<string> | null = null;
  private pendingAnyQueue = false;
  private flushScheduled = false;

  constructor(private readonly options: NotifierOptions) {
    this.reconnectDelayMs = options.reconnectMinMs;
  }

  /** Adds a listener; resolves once LISTEN is active, so every later commit is heard. */
  async subscribe(listener: StorageListener): Promise<() => Promise<void>> {
    if (this.closed) {
      throw toStorageError(
        'subscribe',
        new Error('the storage was closed; create a new PostgresStorage'),
      );
    }
    this.listeners.add(listener);
    try {
      await this.ensureListening();
    } catch (error) {
      this.listeners.delete(listener);
      throw toStorageError('subscribe', error);
    }
    let active = true;
    return async () => {
      if (!active) return;
      active = false;
      this.listeners.delete(listener);
      if (this.listeners.size === 0) await this.disconnect();
    };
  }

  /** Closes the LISTEN connection for good. */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.disconnect();
  }

  private async ensureListening(): Promise<void> {
    if (this.client !== null) return;
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    await this.connecting;
  }

  private async connect(): Promise<void> {
    const client = this.options.createClient();
    client.on('error', (error) => this.onConnectionLost(client, error));
    client.on('end', () => this.onConnectionLost(client, undefined));
    client.on('notification', (message) => this.onNotification(message));
    try {
      await client.connect();
      await client.query(`listen ${pg.escapeIdentifier(this.options.channel)}`);
    } catch (error) {
      client.removeAllListeners();
      client.on('error', () => {});
      await endClient(client);
      throw error;
    }
    if (this.closed || this.listeners.size === 0) {
      client.removeAllListeners();
      client.on('error', () => {});
      await endClient(client);
      return;
    }
    this.client = client;
    this.startPing(client);
  }

  private startPing(client: pg.Client): void {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      client.query('select 1').catch((error: unknown) => {
        this.onConnectionLost(client, error instanceof Error ? error : new Error(String(error)));
      });
    }, this.options.pingIntervalMs);
    this.pingTimer.unref();
  }

  private stopPing(): void {
    if (this.pingTimer === null) return;
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private async disconnect(): Promise<void> {
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    await this.connecting?.catch(() => {});
    this.stopPing();
    const client = this.client;
    this.client = null;
    if (client === null) return;
    client.removeAllListeners();
    client.on('error', () => {});
    await endClient(client);
  }

  private onConnectionLost(client: pg.Client, error: Error | undefined): void {
    if (this.client !== client) return;
    this.client = null;
    this.stopPing();
    client.removeAllListeners();
    client.on('error', () => {});
    // The peer of a dead connection never replies to a polite close.
    destroySocket(client);
    client.end().catch(() => {});
    if (this.closed || this.listeners.size === 0) return;
    this.options.logger.warn(
      { err: error, channel: this.options.channel },
      'postgres LISTEN connection lost; reconnecting',
    );
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer !== null || this.closed) return;
    const delayMs = this.reconnectDelayMs * (0.75 + Math.random() * 0.5);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.reconnect();
    }, delayMs);
    this.reconnectTimer.unref();
  }

  private async reconnect(): Promise<void> {
    if (this.closed || this.listeners.size === 0) return;
    try {
      await this.ensureListening();
    } catch (error) {
      this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, this.options.reconnectMaxMs);
      this.options.logger.warn(
        { err: error, channel: this.options.channel, retryInMs: this.reconnectDelayMs },
        'postgres LISTEN reconnect failed',
      );
      this.scheduleReconnect();
      return;
    }
    this.reconnectDelayMs = this.options.reconnectMinMs;
    this.options.logger.info({ channel: this.options.channel }, 'postgres LISTEN reconnected');
    // The notifications of the outage reached no listener, so every worker should look.
    for (const listener of [...this.listeners]) this.call('onWork', () => listener.onWork?.(null));
  }

  private onNotification(message: pg.Notification): void {
    const payload = message.payload ?? '';
    const kind = payload.slice(0, 2);
    if (kind === 'w|') {
      this.queueWork(payload.slice(2));
    } else if (kind === 'f|') {
      this.dispatchFinished(payload.slice(2));
    } else if (kind === 'c|') {
      this.dispatchCompleted(payload.slice(2));
    } else if (kind === 's|') {
      const separator = payload.indexOf('|', 2);
      if (separator < 0) return;
      const runId = payload.slice(2, separator);
      const name = payload.slice(separator + 1);
      for (const listener of [...this.listeners]) {
        this.call('onSignal', () => listener.onSignal?.(runId, name));
      }
    }
  }

  /** Dispatches 'id:state,id:state,...'; run ids are UUIDs, so neither separator occurs in them. */
  private dispatchFinished(list: string): void {
    // Waiters and workers (for cancellations) listen for finished runs. A listener that names
    // its states gets only those, and a list that names none of them is not parsed for it.
    const listeners = [...this.listeners].filter(
      (listener) => listener.onRunFinished !== undefined && mayWant(listener, list),
    );
    if (listeners.length === 0) return;
    for (const entry of list.split(',')) {
      const separator = entry.lastIndexOf(':');
      if (separator < 0) continue;
      const runId = entry.slice(0, separator);
      const state = entry.slice(separator + 1) as RunState;
      for (const listener of listeners) {
        if (!wantsState(listener, state)) continue;
        this.call('onRunFinished', () => listener.onRunFinished?.(runId, state));
      }
    }
  }

  /** Dispatches 'id,id,...': runs that completed, listed by one completion message. */
  private dispatchCompleted(list: string): void {
    const listeners = [...this.listeners].filter(
      (listener) => listener.onRunFinished !== undefined && wantsState(listener, 'completed'),
    );
    if (listeners.length === 0) return;
    for (const runId of list.split(',')) {
      for (const listener of listeners) {
        this.call('onRunFinished', () => listener.onRunFinished?.(runId, 'completed'));
      }
    }
  }

  /** Collects the queues of work notifications and calls onWork once for the whole burst. */
  private queueWork(queue: string): void {
    if (queue === '') {
      this.pendingAnyQueue = true;
    } else {
      this.pendingQueues ??= new Set();
      this.pendingQueues.add(queue);
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const queues = this.pendingAnyQueue ? null : [...(this.pendingQueues ?? [])];
      this.pendingQueues = null;
      this.pendingAnyQueue = false;
      for (const listener of [...this.listeners]) {
        this.call('onWork', () => listener.onWork?.(queues));
      }
    });
  }

  /** Calls one listener callback; a callback that throws is logged and does not stop others. */
  private call(callback: string, invoke: () => void): void {
    try {
      invoke();
    } catch (error) {
      this.options.logger.error(
        { err: error, callback },
        'storage listener threw; the error was ignored',
      );
    }
  }
}

/** Ends a client politely, and destroys its socket when the peer does not reply in time. */
async function endClient(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, CLOSE_WAIT_MS);
  });
  await Promise.race([client.end().catch(() => {}), late]);
  clearTimeout(timer);
  destroySocket(client);
}

/**
 * Checks whether the listener wants finish notices of `state`. A listener without
 * `finishedStates` wants every state.
 */
function wantsState(listener: StorageListener, state: RunState): boolean {
  return listener.finishedStates === undefined || listener.finishedStates.includes(state);
}

/**
 * Checks whether a finished list ('id:state,...') may name a state the listener wants. A
 * listener without `finishedStates` wants every state.
 */
function mayWant(listener: StorageListener, list: string): boolean {
  const states = listener.finishedStates;
  return states === undefined || states.some((state) => list.includes(`:${state}`));
}
