/**
 * The worker runtime: claims due runs into free concurrency slots, runs their handlers, keeps
 * their leases alive and stores outcomes. See {@link WorkerOptions} for the knobs.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { CancelledError, InvalidOptionError, LeaseLostError, ShutdownError } from './errors.js';
import { emitBursts } from './flow/bursts.js';
import { AttemptAbort } from './internal/attempt-abort.js';
import { Batcher } from './internal/batcher.js';
import { assertKnownKeys } from './internal/check.js';
import { errorMessage } from './internal/decode.js';
import { type ActiveRun, type ExecutionEnv, executeAttempt } from './internal/execution.js';
import type { ClientInternals } from './internal/internals.js';
import { reclaimExpiredRuns } from './internal/reclaim.js';
import { installSignalHandlers } from './internal/signals.js';
import { callStorage } from './internal/storage-call.js';
import { TimerLoop } from './internal/timer-loop.js';
import { Wakeup } from './internal/wakeup.js';
import {
  maxUnstoredOutcomes,
  type ResolvedWorkerOptions,
  resolveWorkerOptions,
  type WorkerOptions,
} from './internal/worker-options.js';
import { childLogger, type Logger } from './logger.js';
import type {
  ClaimedRun,
  CompleteRequest,
  FailRequest,
  NewEvent,
  Storage,
} from './storage/contract.js';
import { TenantPurger } from './tenancy/purge.js';

export type { WorkerOptions } from './internal/worker-options.js';

/** Lifecycle of a worker. */
export type WorkerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/** Maximum wait between claims while the storage keeps failing, in ms. */
const MAX_CLAIM_BACKOFF_MS = 30_000;
/**
 * Time after which a batch of outcomes still in flight no longer holds back the next one, in
 * ms, so that one hung storage call does not stop every later outcome.
 */
const SLOW_OUTCOME_BATCH_MS = 1_000;
/** Wait before claiming again when a run was due but the claim did not return it, in ms. */
const DUE_RECHECK_MS = 10;

/**
 * A worker of a {@link ZapJobs} client; create it with `zap.createWorker(options)`.
 * Many workers, in one process or many, can share one storage.
 */
export class Worker {
  /** Id in the worker registry and on claimed runs. */
  readonly id: string;
  /** Options after defaults were applied. */
  readonly options: Readonly<ResolvedWorkerOptions>;

  readonly #internals: ClientInternals;
  readonly #storage: Storage;
  readonly #logger: Logger;
  readonly #env: ExecutionEnv;
  readonly #wake = new Wakeup();
  readonly #heartbeats: TimerLoop;
  readonly #maintenance: TimerLoop;
  readonly #tenantPurger: TenantPurger;
  readonly #completes: Batcher<CompleteRequest, boolean>;
  readonly #fails: Batcher<FailRequest, boolean>;
  readonly #events: Batcher<NewEvent, undefined>;
  /** Runs this worker holds a lease on, by lease token: running, or storing their outcome. */
  readonly #active = new Map<string, { active: ActiveRun; settled: Promise<void> }>();
  /** Claimed runs waiting for a free slot, oldest first (`prefetch`); each holds a lease. */
  readonly #buffered = new Set<ActiveRun>();
  /** Entries of `#active` whose handler has not finished; each takes a concurrency slot. */
  #runningHandlers = 0;
  /** Flag set while #startBuffered starts runs. */
  #startingRuns = false;
  /** Flag set while a later pass of #startBuffered is scheduled. */
  #startScheduled = false;
  /** Aborted when a stop gives up on outcomes that are still being stored. */
  #storingAbandoned = storingAbandonedController();

  #state: WorkerState = 'idle';
  #loop: Promise<void> | null = null;
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #forced = false;
  /** Deadline after which a stop stops waiting for hung storage calls (`shutdownTimeoutMs`). */
  #giveUp: { promise: Promise<void>; timer: NodeJS.Timeout | null; resolve: () => void } | null =
    null;
  #endGracePeriod: (() => void) | null = null;
  #unsubscribe: (() => Promise<void>) | null = null;
  #removeSignalHandlers: (() => void) | null = null;
  #clockOffsetMs = 0;
  #claimFailures = 0;
  #dueButNotClaimed = 0;

  /** @internal Use `ZapJobs.createWorker`. */
  constructor(internals: ClientInternals, options: WorkerOptions) {
    this.options = Object.freeze(resolveWorkerOptions(options));
    this.id = this.options.workerId;
    this.#internals = internals;
    this.#storage = internals.storage;
    this.#logger = childLogger(internals.logger, { workerId: this.id });

    const storage = this.#storage;
    // One batch of outcomes in flight at a time: outcomes that finish meanwhile leave together
    // in the next one, so a busy worker sends fewer, larger batches.
    const outcomeBatching = { maxInFlight: 1, slowAfterMs: SLOW_OUTCOME_BATCH_MS };
    this.#completes = new Batcher((requests) => storage.complete(requests), outcomeBatching);
    this.#fails = new Batcher((requests) => storage.fail(requests), outcomeBatching);
    this.#events = new Batcher(
      async (events) => {
        await storage.appendEvents(events);
        return events.map(() => undefined);
      },
      { sequential: true },
    );
    this.#env = {
      internals,
      workerId: this.id,
      logger: this.#logger,
      completes: this.#completes,
      fails: this.#fails,
      events: { append: (event) => this.#events.add(event) },
      loseLease: (active, reason) => this.#loseLease(active, reason),
      handlerFinished: (active) => this.#handlerFinished(active),
      storingAbandoned: () => this.#storingAbandoned.signal,
    };
    this.#heartbeats = new TimerLoop(() => this.#heartbeat(), this.options.heartbeatMs);
    this.#maintenance = new TimerLoop(() => this.#maintain(), this.options.reclaimIntervalMs);
    this.#tenantPurger = new TenantPurger(this.#storage, this.#logger);
  }

  /** Current lifecycle state. */
  get state(): WorkerState {
    return this.#state;
  }

  /**
   * Number of attempts this worker holds a lease on: handlers running, and finished attempts
   * whose outcome is still being stored.
   */
  get activeCount(): number {
    return this.#active.size;
  }

  /**
   * Initializes the client if needed, registers the worker and starts claiming. Resolves once
   * claiming started. Calling it on a running worker does nothing; a stopped worker restarts.
   */
  async start(): Promise<void> {
    if (this.#state === 'starting' || this.#state === 'running') return this.#starting ?? undefined;
    if (this.#state === 'stopping') await this.#stopping;
    this.#stopping = null;
    this.#forced = false;
    this.#storingAbandoned = storingAbandonedController();
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    this.#state = 'starting';
    try {
      await this.#internals.ensureReady('start a worker');
      await this.#syncClock();
      await this.#register();
      this.#unsubscribe = await callStorage(this.#storage, 'subscribe', () =>
        this.#storage.subscribe({
          onWork: (queues) => {
            if (queues === null || queues.some((queue) => this.options.queues.includes(queue))) {
              this.#wake.notify();
            }
          },
          onRunFinished: (runId, state) => {
            if (state === 'cancelled') this.notifyCancelled(runId);
          },
          finishedStates: ['cancelled'],
        }),
      );
    } catch (error) {
      this.#state = 'idle';
      throw error;
    }

    this.#claimFailures = 0;
    this.#state = 'running';
    this.#heartbeats.start(false);
    this.#maintenance.start(true);
    if (this.options.handleSignals) this.#installSignalHandlers();
    this.#loop = this.#claimLoop();

    const { queues, concurrency } = this.options;
    this.#logger.info(
      { queues, concurrency },
      `Worker ${this.id} started on queues ${queues.join(', ')} with concurrency ${concurrency}`,
    );
    this.#internals.bus.emit('worker.started', { workerId: this.id, queues, concurrency });
  }

  /**
   * Stops the worker. Graceful by default: claiming stops at once, runs in the `prefetch` buffer
   * are released at once (attempt not counted), and running handlers get up to
   * `shutdownTimeoutMs` to finish. With `force`, or at that deadline, handlers are aborted
   * with ShutdownError and their runs released, claimable at once with the attempt not
   * counted. A forced stop during a graceful one cuts the wait short.
   */
  stop(options: { force?: boolean } = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', options, 'an object such as { force: true }');
    }
    assertKnownKeys(options, ['force'], '', ' of stop');
    if (options.force !== undefined && typeof options.force !== 'boolean') {
      throw new InvalidOptionError('force', options.force, 'true or false');
    }
    if (this.#state === 'idle' || this.#state === 'stopped') {
      return this.#stopping ?? Promise.resolve();
    }
    if (this.#stopping === null) {
      this.#giveUp = deferredGiveUp();
      this.#stopping = this.#stop().finally(() => {
        if (this.#giveUp?.timer) clearTimeout(this.#giveUp.timer);
        this.#giveUp = null;
      });
    }
    if (options.force === true) {
      this.#forced = true;
      this.#endGracePeriod?.();
      this.#startGiveUpTimer();
    }
    return this.#stopping;
  }

  /**
   * Aborts the attempt of a run that was cancelled, with CancelledError, and discards its
   * outcome. The client calls it on cancel; the storage's notifications call it for cancels
   * made by other processes.
   */
  notifyCancelled(runId: string): void {
    for (const active of [...this.#buffered, ...[...this.#active.values()].map((e) => e.active)]) {
      if (active.run.id === runId) this.#loseLease(active, new CancelledError(runId));
    }
  }

  async #stop(): Promise<void> {
    if (this.#state === 'starting') await this.#starting?.catch(() => undefined);
    if (this.#state !== 'running') return;
    this.#state = 'stopping';

    const running = this.#active.size;
    this.#logger.info(
      { running, shutdownTimeoutMs: this.options.shutdownTimeoutMs, forced: this.#forced },
      this.#forced
        ? `Worker ${this.id} stopping now, aborting ${running} running attempt(s)`
        : `Worker ${this.id} stopping, waiting up to ${this.options.shutdownTimeoutMs} ms for ` +
            `${running} running attempt(s)`,
    );
    this.#wake.notify();
    await this.#bounded(this.#loop, 'the claim in flight');
    await this.#bounded(this.#releaseBuffered(), 'releasing buffered runs');

    if (!this.#forced && this.#active.size > 0) await this.#waitForHandlers();
    this.#startGiveUpTimer();
    const aborting = this.#active.size > 0;
    if (aborting) await this.#bounded(this.#abortAndRelease(), 'releasing aborted runs');
    const forced = this.#forced || aborting;

    await this.#bounded(
      Promise.all([this.#heartbeats.stop(), this.#maintenance.stop()]),
      'the heartbeat and maintenance calls in flight',
    );
    await this.#bounded(
      Promise.all([this.#completes.drain(), this.#fails.drain(), this.#events.drain()]),
      'storing outcomes and events',
    );
    const unsubscribe = this.#unsubscribe?.().catch((error: unknown) =>
      this.#logger.warn(
        { err: error },
        `Failed to unsubscribe worker ${this.id}: ${errorMessage(error)}`,
      ),
    );
    await this.#bounded(unsubscribe, 'unsubscribing from storage notifications');
    this.#unsubscribe = null;
    const unregister = callStorage(this.#storage, 'unregisterWorker', () =>
      this.#storage.unregisterWorker(this.id),
    ).catch((error: unknown) =>
      this.#logger.warn(
        { err: error },
        `Failed to unregister worker ${this.id}: ${errorMessage(error)}`,
      ),
    );
    await this.#bounded(unregister, 'unregistering the worker');
    this.#removeSignalHandlers?.();
    this.#removeSignalHandlers = null;

    this.#state = 'stopped';
    this.#logger.info({ forced }, `Worker ${this.id} stopped`);
    this.#internals.bus.emit('worker.stopped', { workerId: this.id, forced });
  }

  /** Starts the `shutdownTimeoutMs` countdown after which a stop leaves hung storage calls. */
  #startGiveUpTimer(): void {
    const giveUp = this.#giveUp;
    if (giveUp === null || giveUp.timer !== null) return;
    giveUp.timer = setTimeout(giveUp.resolve, this.options.shutdownTimeoutMs);
  }

  /**
   * Waits for `work` until the give-up countdown of a forced stop ends. Work still pending
   * then is logged and left, so a storage call that never returns cannot block a stop.
   */
  async #bounded(work: Promise<unknown> | null | undefined, what: string): Promise<void> {
    if (work === null || work === undefined) return;
    const giveUp = this.#giveUp;
    if (giveUp === null) {
      await work;
      return;
    }
    let finished = false;
    await Promise.race([
      work.then(() => {
        finished = true;
      }),
      giveUp.promise,
    ]);
    if (!finished) {
      work.catch(() => undefined);
      this.#logger.error(
        { shutdownTimeoutMs: this.options.shutdownTimeoutMs, waitingFor: what },
        `Worker ${this.id} stopped waiting for ${what}: a storage call gave no answer within ` +
          `shutdownTimeoutMs (${this.options.shutdownTimeoutMs} ms) of a forced stop. Runs it ` +
          'held become claimable when their leases expire; check that the storage is reachable.',
      );
    }
  }

  async #waitForHandlers(): Promise<void> {
    let timer: NodeJS.Timeout | null = null;
    const gracePeriod = new Promise<void>((resolve) => {
      this.#endGracePeriod = resolve;
      timer = setTimeout(() => {
        this.#logger.warn(
          { running: this.#active.size },
          `Worker ${this.id} reached shutdownTimeoutMs (${this.options.shutdownTimeoutMs} ms) ` +
            `with ${this.#active.size} attempt(s) still running; aborting them`,
        );
        resolve();
      }, this.options.shutdownTimeoutMs);
    });
    const settled = Promise.allSettled([...this.#active.values()].map((entry) => entry.settled));
    await Promise.race([settled, gracePeriod]);
    if (timer !== null) clearTimeout(timer);
    this.#endGracePeriod = null;
  }

  /** Aborts every running handler with ShutdownError and releases their leases in one call. */
  async #abortAndRelease(): Promise<void> {
    const reason = new ShutdownError(this.id);
    this.#storingAbandoned.abort(reason);
    const victims: ActiveRun[] = [];
    for (const { active } of this.#active.values()) {
      if (active.discarded || active.storing) continue;
      active.discarded = true;
      active.abort.abort(reason);
      victims.push(active);
    }
    await this.#release(victims);
    await Promise.allSettled([...this.#active.values()].map((entry) => entry.settled));
  }

  /** Releases every buffered run that never started, claimable again with no attempt counted. */
  async #releaseBuffered(): Promise<void> {
    const held = [...this.#buffered];
    this.#buffered.clear();
    for (const active of held) active.discarded = true;
    await this.#release(held);
  }

  /** Releases the leases of `actives` in one storage call, logging the result. */
  async #release(actives: ActiveRun[]): Promise<void> {
    if (actives.length === 0) return;
    try {
      const released = await this.#storage.release(actives.map((active) => active.lease));
      const count = released.filter(Boolean).length;
      this.#logger.info(
        { released: count },
        `Worker ${this.id} released ${count} run(s); they are claimable again at once`,
      );
    } catch (error) {
      this.#logger.error(
        { err: error },
        `Worker ${this.id} failed to release ${actives.length} run(s); they become claimable ` +
          `when their leases expire: ${errorMessage(error)}`,
      );
    }
  }

  async #claimLoop(): Promise<void> {
    const { queues, concurrency, prefetch, leaseMs, pollIntervalMs } = this.options;
    while (this.#state === 'running') {
      this.#startBuffered();
      const free = Math.max(0, this.#freeSlots(concurrency));
      const room = prefetch - this.#buffered.size;
      // Free slots that the buffer cannot fill need a claim at once. Otherwise refill the
      // buffer once an eighth of it is left, so that each claim serves many handler cycles:
      // with short handlers, larger claims gave more throughput (bench/NOTES.md).
      const idle = free > this.#buffered.size;
      const limit = idle || this.#bufferNeedsRefill() ? free + room : 0;
      if (limit <= 0) {
        await this.#wake.wait(pollIntervalMs);
        continue;
      }

      const claimStartedAt = Date.now();
      let claimed: ClaimedRun[];
      try {
        claimed = await this.#storage.claim({ workerId: this.id, queues, limit, leaseMs });
        this.#claimSucceeded();
      } catch (error) {
        await this.#wake.wait(this.#claimFailed(error));
        continue;
      }

      const claimReturnedAt = Date.now();
      for (const run of claimed) {
        const deadline = this.#claimedLeaseDeadline(run, claimStartedAt, claimReturnedAt);
        this.#buffered.add(this.#heldRun(run, deadline));
      }
      this.#reportBursts(claimed);
      if (this.#state !== 'running') break;
      this.#startBuffered();
      if (claimed.length === limit) continue;
      await this.#wake.wait(await this.#idleDelay());
    }
  }

  /**
   * Emits the burst uses of claimed runs. Runs are already buffered, so a malformed `bursts`
   * value from a custom backend is logged and the runs still start.
   */
  #reportBursts(claimed: readonly ClaimedRun[]): void {
    try {
      emitBursts(this.#internals.bus, this.id, claimed);
    } catch (error) {
      this.#logger.error(
        { err: error, runs: claimed.map((run) => run.id) },
        `Worker ${this.id} failed to report the burst uses of ${claimed.length} claimed run(s); ` +
          `the storage returned an invalid bursts value: ${errorMessage(error)}`,
      );
    }
  }

  /** Wraps a claimed run and its lease for the buffer; the handler has not started. */
  #heldRun(run: ClaimedRun, leaseDeadline: number): ActiveRun {
    return {
      run,
      lease: { runId: run.id, leaseToken: run.leaseToken },
      abort: new AttemptAbort(),
      discarded: false,
      storing: false,
      handlerFinished: false,
      leaseDeadline,
    };
  }

  /**
   * Moves buffered runs into free slots, oldest first, dropping those whose lease expired.
   * Handlers that return without waiting free their slot at once, so one call could run the
   * whole buffer before anything else happens, with the refill claim and the outcome batches
   * not even sent. One call therefore starts at most `concurrency` runs and leaves the rest to
   * a pass after pending I/O (setImmediate). A call from a handler that finished inside a pass
   * returns at once, because that pass goes on to fill the freed slot.
   */
  #startBuffered(): void {
    if (this.#startingRuns || this.#state !== 'running') return;
    const { concurrency } = this.options;
    this.#startingRuns = true;
    let started = 0;
    try {
      for (const active of this.#buffered) {
        if (this.#freeSlots(concurrency) <= 0) break;
        if (started === concurrency) {
          this.#startLater();
          break;
        }
        started++;
        this.#buffered.delete(active);
        if (Date.now() >= active.leaseDeadline) {
          this.#dropBuffered(active, new LeaseLostError(active.run.id));
        } else {
          this.#startAttempt(active);
        }
      }
    } finally {
      this.#startingRuns = false;
    }
    // The claim loop waits until the buffer needs a refill, so wake it once it does.
    if (started > 0 && this.#bufferNeedsRefill()) this.#wake.notify();
  }

  /**
   * Checks whether the prefetch buffer is down to an eighth of `prefetch`, rounded down. With
   * `prefetch` 2 or more it keeps at least one run, so a slot that frees up while the refill
   * claim is in flight still has one to start.
   */
  #bufferNeedsRefill(): boolean {
    const { prefetch } = this.options;
    const keep = prefetch >= 2 ? Math.max(1, Math.floor(prefetch / 8)) : 0;
    return this.#buffered.size <= keep;
  }

  /** Runs another pass of #startBuffered after pending I/O, once. */
  #startLater(): void {
    if (this.#startScheduled) return;
    this.#startScheduled = true;
    setImmediate(() => {
      this.#startScheduled = false;
      this.#startBuffered();
    });
  }

  #startAttempt(active: ActiveRun): void {
    const { run } = active;
    this.#runningHandlers++;
    const discardReason = () => (active.discarded ? active.abort.reason : undefined);
    const ended = () => {
      this.#handlerFinished(active);
      this.#active.delete(run.leaseToken);
      // A stored outcome may be what held the next run back (maxUnstoredOutcomes).
      this.#startBuffered();
      this.#wake.notify();
    };
    const settled = this.#internals.telemetry
      .traceAttempt(run, this.id, discardReason, () => executeAttempt(this.#env, active))
      .then(ended, (error: unknown) => {
        try {
          this.#logger.error(
            { err: error, runId: run.id },
            `Attempt ${run.attempt} of run ${run.id} ended with an internal error: ${errorMessage(error)}`,
          );
        } finally {
          ended();
        }
      });
    this.#active.set(run.leaseToken, { active, settled });
  }

  /** Frees the slot of an attempt whose handler finished; its lease is kept until it settles. */
  #handlerFinished(active: ActiveRun): void {
    if (active.handlerFinished) return;
    active.handlerFinished = true;
    this.#runningHandlers--;
    this.#startBuffered();
    this.#wake.notify();
  }

  /**
   * Slots a claim may fill: concurrency minus running handlers, less any excess of unstored
   * outcomes over their cap.
   */
  #freeSlots(concurrency: number): number {
    const maxHeld = concurrency + maxUnstoredOutcomes(concurrency, this.options.prefetch);
    return Math.min(concurrency - this.#runningHandlers, maxHeld - this.#active.size);
  }

  /**
   * Local time at which a claimed run's lease expires unless extended. The storage set it to
   * its own clock plus `leaseMs` at some moment between sending the claim and its reply, so
   * `leaseExpiresAt` is converted with the clock offset and kept inside that window. A claim
   * slowed down by retries before it reached the storage does not shorten the lease.
   */
  #claimedLeaseDeadline(run: ClaimedRun, sentAt: number, returnedAt: number): number {
    const { leaseMs } = this.options;
    const latest = returnedAt + leaseMs;
    if (run.leaseExpiresAt === null) return latest;
    return Math.min(latest, Math.max(sentAt + leaseMs, run.leaseExpiresAt - this.#clockOffsetMs));
  }

  /** Milliseconds to sleep when the last claim found fewer runs than free slots. */
  async #idleDelay(): Promise<number> {
    const { pollIntervalMs, queues } = this.options;
    let nextDueAt: number | null;
    try {
      nextDueAt = await this.#storage.nextDueAt(queues);
    } catch {
      return pollIntervalMs;
    }
    if (nextDueAt === null) return pollIntervalMs;

    const delay = nextDueAt - (Date.now() + this.#clockOffsetMs);
    if (delay > 0) {
      this.#dueButNotClaimed = 0;
      return Math.min(delay + 1, pollIntervalMs);
    }
    // A run is due but the claim did not take it, because it became due just now or a storage
    // limit keeps it back. Check once more soon, then fall back to the poll interval.
    this.#dueButNotClaimed++;
    return this.#dueButNotClaimed === 1 ? DUE_RECHECK_MS : pollIntervalMs;
  }

  #claimSucceeded(): void {
    if (this.#claimFailures > 0) {
      this.#logger.info(
        { failures: this.#claimFailures },
        `Worker ${this.id} claims again after ${this.#claimFailures} failed attempt(s)`,
      );
    }
    this.#claimFailures = 0;
  }

  /** Logs a failed claim (the first and every tenth in a row) and returns the wait before the next. */
  #claimFailed(error: unknown): number {
    this.#claimFailures++;
    const waitMs = Math.min(
      this.options.pollIntervalMs * 2 ** Math.min(this.#claimFailures - 1, 10),
      MAX_CLAIM_BACKOFF_MS,
    );
    if (this.#claimFailures === 1 || this.#claimFailures % 10 === 0) {
      this.#logger.error(
        { err: error, failures: this.#claimFailures, waitMs },
        `Worker ${this.id} failed to claim runs (${this.#claimFailures} time(s) in a row), ` +
          `retrying in ${waitMs} ms: ${errorMessage(error)}`,
      );
    }
    return waitMs;
  }

  #loseLease(active: ActiveRun, reason: Error): void {
    if (this.#buffered.delete(active)) {
      this.#dropBuffered(active, reason);
      return;
    }
    if (active.discarded || active.storing) return;
    active.discarded = true;
    active.abort.abort(reason);
    const cancelled = reason instanceof CancelledError;
    const why = cancelled ? 'the run was cancelled' : 'its lease was lost';
    this.#logger[cancelled ? 'info' : 'warn'](
      { runId: active.run.id, attempt: active.run.attempt },
      `Worker ${this.id} aborted run ${active.run.id} because ${why}; its outcome will be discarded`,
    );
  }

  /** Aborts an attempt whose lease the storage no longer holds, with the reason it was lost. */
  async #reportLostLease(active: ActiveRun): Promise<void> {
    let cancelled = false;
    try {
      cancelled = (await this.#storage.getRun(active.run.id))?.state === 'cancelled';
    } catch {
      // The reason is only informative; the attempt is aborted either way.
    }
    const reason = cancelled
      ? new CancelledError(active.run.id)
      : new LeaseLostError(active.run.id);
    this.#loseLease(active, reason);
  }

  /** Drops a buffered run that never started; there is no handler to abort. */
  #dropBuffered(active: ActiveRun, reason: Error): void {
    active.discarded = true;
    this.#logger.info(
      { runId: active.run.id, attempt: active.run.attempt },
      `Worker ${this.id} dropped buffered run ${active.run.id} before starting it: ${reason.message}`,
    );
    this.#wake.notify();
  }

  /** Extends every held lease in one storage call and aborts attempts whose lease is gone. */
  async #heartbeat(): Promise<void> {
    const held = [
      ...this.#buffered,
      ...[...this.#active.values()].map((entry) => entry.active),
    ].filter((active) => !active.discarded);
    if (held.length === 0) return;

    const sentAt = Date.now();
    try {
      const lost = new Set(
        await this.#storage.heartbeat(
          held.map((active) => active.lease),
          this.options.leaseMs,
        ),
      );
      const losses: Promise<void>[] = [];
      for (const active of held) {
        if (!lost.has(active.run.id)) {
          active.leaseDeadline = sentAt + this.options.leaseMs;
        } else if (active.storing) {
          // The fenced store decides; a retry of a failed store stops at this deadline.
          active.leaseDeadline = Math.min(active.leaseDeadline, sentAt);
        } else {
          losses.push(this.#reportLostLease(active));
        }
      }
      await Promise.all(losses);
    } catch (error) {
      this.#logger.warn(
        { err: error, leases: held.length },
        `Worker ${this.id} failed to extend ${held.length} lease(s): ${errorMessage(error)}`,
      );
    }

    // Without a successful heartbeat, a lease surely expired at its deadline and another
    // worker may run the same attempt: stop this one instead of running twice.
    const now = Date.now();
    for (const active of held) {
      if (now >= active.leaseDeadline) this.#loseLease(active, new LeaseLostError(active.run.id));
    }
  }

  /** Reclaims expired leases, refreshes the registry entry and the storage clock offset. */
  async #maintain(): Promise<void> {
    await this.#reclaimExpired();
    await this.#tenantPurger.maybePurge();
    await this.#register().catch((error: unknown) =>
      this.#logger.warn(
        { err: error },
        `Worker ${this.id} failed to refresh its registry entry: ${errorMessage(error)}`,
      ),
    );
    await this.#syncClock().catch(() => undefined);
  }

  async #reclaimExpired(): Promise<void> {
    const madeAvailable = await reclaimExpiredRuns(
      this.#storage,
      this.#internals.bus,
      this.#logger,
    );
    if (madeAvailable) this.#wake.notify();
  }

  async #register(): Promise<void> {
    const { queues, concurrency } = this.options;
    await callStorage(this.#storage, 'registerWorker', () =>
      this.#storage.registerWorker({
        id: this.id,
        hostname: hostname(),
        pid: process.pid,
        queues,
        concurrency,
      }),
    );
  }

  /** Estimates the storage clock minus the local clock, from the midpoint of one round trip. */
  async #syncClock(): Promise<void> {
    const sentAt = Date.now();
    const storageNow = await callStorage(this.#storage, 'now', () => this.#storage.now());
    const receivedAt = Date.now();
    this.#clockOffsetMs = storageNow - (sentAt + receivedAt) / 2;
  }

  #installSignalHandlers(): void {
    this.#removeSignalHandlers = installSignalHandlers(this.id, this.#logger, (force) =>
      this.stop({ force }),
    );
  }
}

/** Creates an unresolved promise with its `resolve` and a slot for the timer that calls it. */
function deferredGiveUp(): {
  promise: Promise<void>;
  timer: NodeJS.Timeout | null;
  resolve: () => void;
} {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, timer: null, resolve };
}

/**
 * Creates the controller whose signal ends the retries of outcomes being stored. Every run whose
 * outcome failed to store waits on that signal between tries, so during a storage outage it has
 * one listener per run in flight. The listener limit is lifted, or Node warns of a leak once more
 * than 10 wait.
 */
function storingAbandonedController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
