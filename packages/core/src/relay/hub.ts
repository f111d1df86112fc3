/**
 * The relay of a client: waiters for run outcomes, served by one shared storage subscription.
 *
 * A waiter registers, then its run is read once, so a run that finished before the
 * subscription or the registration is still seen. After that, `onRunFinished` notifications
 * (PostgreSQL NOTIFY, Redis pub/sub, SQLite polling) trigger a read of the finished run, and
 * this process's own workers settle waiters directly from the event bus. Notifications can
 * be lost while a connection is down, so runs are read again after `onWork(null)` (which
 * backends send after reconnecting) and by a slow sweep.
 *
 * Every waiter owns at most one timer and one abort listener, both released when it settles.
 */
import {
  CancelledError,
  ClientClosedError,
  StorageError,
  WaitTimeoutError,
  ZapJobsError,
} from '../errors.js';
import type { EventBus } from '../events.js';
import { errorMessage } from '../internal/decode.js';
import { callStorage } from '../internal/storage-call.js';
import type { Logger } from '../logger.js';
import type { CancelResult, RunState, Storage } from '../storage/contract.js';
import type { ResolvedWaitOptions } from './options.js';
import { errorFromStored, outcomeOf, type RunOutcome } from './outcome.js';

/** Most `getRun` calls the relay has in flight at once. */
const MAX_PARALLEL_READS = 32;
/** Interval of the sweep that reads runs whose notification may have been lost, in ms. */
const SWEEP_INTERVAL_MS = 1_000;
/** A run is read again by the sweep when it was last read this long ago, in ms. */
const RECHECK_AFTER_MS = 5_000;
/** Most runs one sweep reads, so thousands of long waits cost a bounded rate of reads. */
const SWEEP_MAX_RUNS = 100;
/** Minimum time between two logged read failures, in ms. */
const LOG_EVERY_MS = 10_000;

interface Waiter {
  readonly runId: string;
  /** Registration order; a read settles only the waiters registered before it started. */
  readonly seq: number;
  readonly options: ResolvedWaitOptions;
  readonly resolve: (output: unknown) => void;
  readonly reject: (error: unknown) => void;
  timer: NodeJS.Timeout | null;
  /** Last state a read returned, for the timeout message. */
  lastState: RunState | null;
  /** Set once a read made after registration returned. */
  checked: boolean;
  done: boolean;
}

/** The waiters that passed one abort signal, and the one listener the hub added to it. */
interface WatchedSignal {
  readonly waiters: Set<Waiter>;
  readonly onAbort: () => void;
}

interface WatchedRun {
  readonly waiters: Set<Waiter>;
  /** Local time of the last read of this run, in ms. */
  checkedAt: number;
}

export interface RelayDependencies {
  storage: Storage;
  bus: EventBus;
  logger: Logger;
  /** Cancels a run, for `cancelOnTimeout`. */
  cancel(runId: string): Promise<CancelResult>;
}

export class RelayHub {
  readonly #deps: RelayDependencies;
  readonly #runs = new Map<string, WatchedRun>();
  /**
   * Waiters by the abort signal they passed. A signal gets one listener however many waits
   * share it, so a caller that passes one signal to many waits gets no leak warning from Node.
   */
  readonly #signals = new Map<AbortSignal, WatchedSignal>();
  readonly #pendingReads = new Set<string>();
  #waiterCount = 0;
  #seq = 0;
  #readsInFlight = 0;
  #pumpScheduled: NodeJS.Immediate | null = null;
  #sweepTimer: NodeJS.Timeout | null = null;
  #subscription: Promise<() => Promise<void>> | null = null;
  #closed = false;
  #lastFailureLoggedAt = 0;

  constructor(deps: RelayDependencies) {
    this.#deps = deps;
    // Runs finished by this process's own workers settle without a storage read. Outcomes of
    // runs that no call waits for are not copied, and those are nearly every run of a worker.
    deps.bus.on('job.completed', (event) => {
      if (!this.#runs.has(event.runId)) return;
      const output = event.output === undefined ? null : jsonCopy(event.output);
      this.#settleAll(event.runId, { ok: true, output });
    });
    deps.bus.on('job.failed', (event) => {
      if (!this.#runs.has(event.runId)) return;
      const error = errorFromStored(event.error, event.runId, event.job);
      this.#settleAll(event.runId, { ok: false, error });
    });
    deps.bus.on('job.cancelled', (event) => {
      if (!this.#runs.has(event.runId)) return;
      this.#settleAll(event.runId, { ok: false, error: new CancelledError(event.runId) });
    });
  }

  /** Number of waits not yet settled. */
  get waiting(): number {
    return this.#waiterCount;
  }

  /** Waits for a run to finish and returns its output, or rejects with its error. */
  async wait(runId: string, options: ResolvedWaitOptions): Promise<unknown> {
    options.signal?.throwIfAborted();
    await this.#subscribe();
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new ClientClosedError(`wait for run "${runId}"`));
        return;
      }
      if (options.signal?.aborted) {
        reject(options.signal.reason);
        return;
      }
      const waiter: Waiter = {
        runId,
        seq: ++this.#seq,
        options,
        resolve,
        reject,
        timer: null,
        lastState: null,
        checked: false,
        done: false,
      };
      this.#add(waiter);
      this.#requestRead(runId);
    });
  }

  /** Rejects every pending wait with ClientClosedError and drops the subscription. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const watched of [...this.#runs.values()]) {
      for (const waiter of [...watched.waiters]) {
        this.#remove(waiter);
        waiter.reject(new ClientClosedError(`wait for run "${waiter.runId}"`));
      }
    }
    if (this.#pumpScheduled !== null) clearImmediate(this.#pumpScheduled);
    this.#pumpScheduled = null;
    this.#pendingReads.clear();

    const subscription = this.#subscription;
    this.#subscription = null;
    const unsubscribe = await subscription?.catch(() => null);
    await unsubscribe?.().catch((error: unknown) =>
      this.#deps.logger.warn(
        { err: error },
        `Failed to unsubscribe the relay from storage notifications: ${errorMessage(error)}`,
      ),
    );
  }

  #subscribe(): Promise<unknown> {
    const { storage } = this.#deps;
    this.#subscription ??= callStorage(storage, 'subscribe', () =>
      storage.subscribe({
        onRunFinished: (runId) => {
          if (this.#runs.has(runId)) this.#requestRead(runId);
        },
        onWork: (queues) => {
          // Backends send onWork(null) after a reconnect: finish notifications may be lost.
          if (queues === null) for (const runId of this.#runs.keys()) this.#requestRead(runId);
        },
      }),
    ).catch((error: unknown) => {
      this.#subscription = null;
      throw error;
    });
    return this.#subscription;
  }

  #add(waiter: Waiter): void {
    let watched = this.#runs.get(waiter.runId);
    if (watched === undefined) {
      watched = { waiters: new Set(), checkedAt: Date.now() };
      this.#runs.set(waiter.runId, watched);
    }
    watched.waiters.add(waiter);
    this.#waiterCount++;

    const { timeoutMs, signal } = waiter.options;
    if (timeoutMs !== null) {
      waiter.timer = setTimeout(() => this.#timedOut(waiter, timeoutMs), timeoutMs);
    }
    if (signal !== null) this.#watchSignal(signal, waiter);
    // A timer that keeps the process alive while it waits, as a pending request would.
    this.#sweepTimer ??= setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
  }

  /** Adds a waiter to its signal's waiters, with the signal's one listener for the first. */
  #watchSignal(signal: AbortSignal, waiter: Waiter): void {
    let watched = this.#signals.get(signal);
    if (watched === undefined) {
      const waiters = new Set<Waiter>();
      const onAbort = () => {
        for (const aborted of [...waiters]) {
          this.#remove(aborted);
          aborted.reject(signal.reason);
        }
      };
      watched = { waiters, onAbort };
      this.#signals.set(signal, watched);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    watched.waiters.add(waiter);
  }

  /** Releases a waiter's timer, listener and registration. Idempotent. */
  #remove(waiter: Waiter): void {
    if (waiter.done) return;
    waiter.done = true;
    if (waiter.timer !== null) clearTimeout(waiter.timer);
    waiter.timer = null;
    const { signal } = waiter.options;
    const watchedSignal = signal === null ? undefined : this.#signals.get(signal);
    watchedSignal?.waiters.delete(waiter);
    if (signal !== null && watchedSignal?.waiters.size === 0) {
      signal.removeEventListener('abort', watchedSignal.onAbort);
      this.#signals.delete(signal);
    }

    const watched = this.#runs.get(waiter.runId);
    watched?.waiters.delete(waiter);
    if (watched !== undefined && watched.waiters.size === 0) this.#runs.delete(waiter.runId);
    this.#waiterCount--;
    if (this.#waiterCount === 0 && this.#sweepTimer !== null) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = null;
    }
  }

  #settle(waiter: Waiter, outcome: RunOutcome): void {
    if (waiter.done) return;
    this.#remove(waiter);
    if (outcome.ok) waiter.resolve(outcome.output);
    else waiter.reject(outcome.error);
  }

  #settleAll(runId: string, outcome: RunOutcome): void {
    const watched = this.#runs.get(runId);
    if (watched === undefined) return;
    for (const waiter of [...watched.waiters]) this.#settle(waiter, outcome);
  }

  #timedOut(waiter: Waiter, timeoutMs: number): void {
    waiter.timer = null;
    this.#remove(waiter);
    if (!waiter.options.cancelOnTimeout) {
      waiter.reject(new WaitTimeoutError(waiter.runId, timeoutMs, waiter.lastState, false));
      return;
    }
    void this.#cancelAfterTimeout(waiter, timeoutMs);
  }

  /**
   * Cancels the run of a timed-out waiter. When the run finished before the cancel, the waiter
   * gets that outcome instead of the timeout, because the work is done.
   */
  async #cancelAfterTimeout(waiter: Waiter, timeoutMs: number): Promise<void> {
    const { runId } = waiter;
    try {
      const result = await this.#deps.cancel(runId);
      if (result.cancelled) {
        waiter.reject(new WaitTimeoutError(runId, timeoutMs, waiter.lastState, true));
        return;
      }
      const outcome = outcomeOf(runId, await this.#deps.storage.getRun(runId));
      if (outcome === null) {
        waiter.reject(new WaitTimeoutError(runId, timeoutMs, result.state, false));
      } else if (outcome.ok) {
        waiter.resolve(outcome.output);
      } else {
        waiter.reject(outcome.error);
      }
    } catch (error) {
      this.#deps.logger.warn(
        { err: error, runId },
        `Failed to cancel run ${runId} after its wait timed out: ${errorMessage(error)}`,
      );
      waiter.reject(new WaitTimeoutError(runId, timeoutMs, waiter.lastState, false));
    }
  }

  /** Queues a read of a run; reads queued in the same event-loop turn are done once. */
  #requestRead(runId: string): void {
    if (this.#closed) return;
    this.#pendingReads.add(runId);
    this.#pumpScheduled ??= setImmediate(() => {
      this.#pumpScheduled = null;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#readsInFlight < MAX_PARALLEL_READS && this.#pendingReads.size > 0) {
      const runId = this.#pendingReads.values().next().value as string;
      this.#pendingReads.delete(runId);
      if (!this.#runs.has(runId)) continue;
      this.#readsInFlight++;
      void this.#read(runId).finally(() => {
        this.#readsInFlight--;
        this.#pump();
      });
    }
  }

  async #read(runId: string): Promise<void> {
    const startedSeq = this.#seq;
    const watched = this.#runs.get(runId);
    if (watched !== undefined) watched.checkedAt = Date.now();

    let outcome: RunOutcome | null;
    let state: RunState | null = null;
    try {
      const record = await this.#deps.storage.getRun(runId);
      outcome = outcomeOf(runId, record);
      state = record?.state ?? null;
    } catch (error) {
      this.#readFailed(runId, startedSeq, error);
      return;
    }

    const current = this.#runs.get(runId);
    if (current === undefined) return;
    for (const waiter of [...current.waiters]) {
      // A waiter registered after the read started has a read of its own queued.
      if (waiter.seq > startedSeq) continue;
      waiter.checked = true;
      if (outcome === null) waiter.lastState = state;
      else this.#settle(waiter, outcome);
    }
  }

  /**
   * Handles a failed read. Waiters whose first read it was are rejected, so `waitFor` fails at
   * once while the storage is down. The others keep waiting for a notification or a sweep.
   */
  #readFailed(runId: string, startedSeq: number, error: unknown): void {
    const wrapped =
      error instanceof ZapJobsError
        ? error
        : new StorageError(this.#deps.storage.name, 'getRun', error);
    const current = this.#runs.get(runId);
    let stillWaiting = 0;
    for (const waiter of [...(current?.waiters ?? [])]) {
      if (waiter.seq > startedSeq) continue;
      if (waiter.checked) {
        stillWaiting++;
      } else {
        this.#remove(waiter);
        waiter.reject(wrapped);
      }
    }
    const now = Date.now();
    if (stillWaiting > 0 && now - this.#lastFailureLoggedAt >= LOG_EVERY_MS) {
      this.#lastFailureLoggedAt = now;
      this.#deps.logger.warn(
        { err: error, runId },
        `Failed to read run ${runId} for ${stillWaiting} waiter(s); reading it again in ` +
          `${RECHECK_AFTER_MS} ms: ${errorMessage(error)}`,
      );
    }
  }

  /** Reads runs that were not read for a while, in case their notification was lost. */
  #sweep(): void {
    const now = Date.now();
    let queued = 0;
    for (const [runId, watched] of this.#runs) {
      if (now - watched.checkedAt < RECHECK_AFTER_MS) continue;
      watched.checkedAt = now;
      this.#requestRead(runId);
      if (++queued >= SWEEP_MAX_RUNS) break;
    }
  }
}

/** Copies a value through JSON, so a local waiter gets the output a remote one would read. */
function jsonCopy(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}
