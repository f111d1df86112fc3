import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunState, StorageListener } from '@zapjobs/core/storage';
import { InvalidOptionError, StorageError, ZapJobsError } from '@zapjobs/core/storage';
import Database from 'better-sqlite3';

/** Changes made by one transaction that listeners must hear about after it commits. */
export interface Notes {
  work: Set<string>;
  finished: { runId: string; state: RunState }[];
  signals: { runId: string; name: string }[];
}

/** Context of a function running inside a write transaction. */
export interface Tx {
  conn: Connection;
  /** The storage clock at the start of the transaction, read after the write lock was taken. */
  now: number;
  notes: Notes;
}

export interface ConnectionOptions {
  path: string;
  busyTimeoutMs: number;
  busyRetryTimeoutMs: number;
  synchronous: 'NORMAL' | 'FULL';
}

/** Result of a transaction, with the notes to emit after it committed. */
interface Outcome<T> {
  result: T;
  notes: Notes;
}

const BACKEND = 'sqlite';
const MAX_CACHED_STATEMENTS = 500;
const NOTIFICATION_RETENTION_MS = 60_000;
const NOTIFICATION_PRUNE_EVERY_MS = 10_000;

/**
 * One better-sqlite3 connection with a prepared-statement cache, write transactions that take
 * the write lock up front (BEGIN IMMEDIATE), and retries of SQLITE_BUSY and SQLITE_LOCKED.
 */
export class Connection {
  readonly db: Database.Database;
  /** Random id written into notification rows, so the poller can skip its own rows. */
  readonly source = randomUUID();
  readonly listeners = new Set<StorageListener>();
  private readonly statements = new Map<string, Database.Statement>();
  private readonly runner: Database.Transaction<(work: () => unknown) => unknown>;
  private lastPruneAt = 0;

  constructor(private readonly options: ConnectionOptions) {
    this.db = openDatabase(options.path, options.busyTimeoutMs);
    this.runner = this.db.transaction((work: () => unknown) => work());
    this.configure();
  }

  /** Sets the connection's pragmas. Switching to WAL needs a brief lock, so it is retried. */
  private configure(): void {
    const deadline = Date.now() + this.options.busyRetryTimeoutMs;
    for (;;) {
      try {
        const mode = this.db.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal' && this.options.path !== ':memory:') {
          this.db.close();
          throw new InvalidOptionError(
            'path',
            this.options.path,
            'a file on a local filesystem that supports WAL mode ' +
              `(SQLite kept journal mode ${mode})`,
          );
        }
        break;
      } catch (error) {
        if (error instanceof InvalidOptionError) throw error;
        if (!isBusyError(error) || Date.now() > deadline) {
          throw new StorageError(BACKEND, 'open', error);
        }
        // A synchronous wait is acceptable here: this only happens while another process
        // is creating the same file.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
    this.db.pragma(`synchronous = ${this.options.synchronous}`);
    this.db.pragma('foreign_keys = ON');
  }

  /** Returns the cached prepared statement for `sql`, preparing it on first use. */
  stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Runs `work` in a BEGIN IMMEDIATE transaction, retrying the whole transaction while the
   * database is busy or locked, then calls in-process listeners with the changes.
   */
  async write<T>(operation: string, work: (tx: Tx) => T): Promise<T> {
    // A transaction the caller opened by hand on this connection would swallow this one as a
    // savepoint, so wait until it ends (see retryBusy).
    const { result, notes } = await this.retryBusy(
      operation,
      () => this.runner.immediate(() => this.runInTransaction(work)) as Outcome<T>,
    );
    this.emit(notes);
    return result;
  }

  /**
   * Runs `work` inside a transaction the caller already opened on this connection (for
   * transactional enqueue). Listeners hear about the changes on the next tick; if the caller
   * rolls back, that call was spurious, which the listener contract allows.
   */
  writeInCallerTransaction<T>(operation: string, work: (tx: Tx) => T): T {
    let outcome: Outcome<T>;
    try {
      outcome = this.runner(() => this.runInTransaction(work)) as Outcome<T>;
    } catch (error) {
      if (error instanceof ZapJobsError) throw error;
      throw new StorageError(BACKEND, operation, error);
    }
    setImmediate(() => this.emit(outcome.notes));
    return outcome.result;
  }

  /** Runs a read, retrying while the database is busy (possible during WAL recovery). */
  read<T>(operation: string, work: () => T): Promise<T> {
    return this.retryBusy(operation, work);
  }

  close(): void {
    this.statements.clear();
    this.listeners.clear();
    try {
      // Refreshes the planner's statistics where they are stale; SQLite recommends it at close.
      this.db.pragma('optimize');
    } catch {
      // Only an optimization: a busy or read-only database skips it.
    }
    this.db.close();
  }

  private runInTransaction<T>(work: (tx: Tx) => T): Outcome<T> {
    const tx: Tx = {
      conn: this,
      now: Date.now(),
      notes: { work: new Set(), finished: [], signals: [] },
    };
    const result = work(tx);
    this.persistNotes(tx);
    return { result, notes: tx.notes };
  }

  /**
   * Writes the transaction's notes to the change log that other processes poll, as one row of
   * kind `batch` whatever the number of changes (see {@link encodeNotes}).
   */
  private persistNotes(tx: Tx): void {
    const { notes, now } = tx;
    if (notes.work.size === 0 && notes.finished.length === 0 && notes.signals.length === 0) {
      return;
    }
    this.stmt(
      `INSERT INTO zapjobs_notifications (source, kind, payload, at)
       VALUES (?, 'batch', ?, ?)`,
    ).run(this.source, encodeNotes(notes), now);
    if (now - this.lastPruneAt >= NOTIFICATION_PRUNE_EVERY_MS) {
      this.lastPruneAt = now;
      this.stmt('DELETE FROM zapjobs_notifications WHERE at < ?').run(
        now - NOTIFICATION_RETENTION_MS,
      );
    }
  }

  /** Calls every listener for the changes in `notes`. */
  emit(notes: Notes): void {
    if (notes.work.size === 0 && notes.finished.length === 0 && notes.signals.length === 0) {
      return;
    }
    const queues = [...notes.work];
    for (const listener of this.listeners) {
      if (queues.length > 0) callSafely(() => listener.onWork?.(queues));
      for (const { runId, state } of notes.finished) {
        callSafely(() => listener.onRunFinished?.(runId, state));
      }
      for (const { runId, name } of notes.signals) {
        callSafely(() => listener.onSignal?.(runId, name));
      }
    }
  }

  /**
   * Runs `work`, retrying with backoff while the database is busy or locked, and while a
   * transaction that the caller opened by hand (BEGIN ... COMMIT around awaits) is open on this
   * connection, because work started now would become part of that transaction.
   */
  private async retryBusy<T>(operation: string, work: () => T): Promise<T> {
    const deadline = Date.now() + this.options.busyRetryTimeoutMs;
    let delayMs = 2;
    for (;;) {
      if (this.db.open && this.db.inTransaction) {
        if (Date.now() > deadline) {
          throw new StorageError(
            BACKEND,
            operation,
            new Error(
              'a transaction opened by the caller on this connection stayed open; commit or ' +
                'roll it back before other storage calls',
            ),
          );
        }
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, 100);
        continue;
      }
      try {
        return work();
      } catch (error) {
        if (error instanceof ZapJobsError) throw error;
        if (!isBusyError(error) || Date.now() > deadline) {
          throw new StorageError(BACKEND, operation, error);
        }
      }
      await sleep(delayMs + Math.random() * delayMs);
      delayMs = Math.min(delayMs * 2, 100);
    }
  }
}

/**
 * Encodes a transaction's notes as the payload of one `batch` change-log row:
 * `{"work":[queue...],"finished":[[runId,state]...],"signals":[[runId,name]...]}`, with each
 * key present only when it has entries.
 */
export function encodeNotes(notes: Notes): string {
  const payload: { work?: string[]; finished?: [string, RunState][]; signals?: string[][] } = {};
  if (notes.work.size > 0) payload.work = [...notes.work];
  if (notes.finished.length > 0) {
    payload.finished = notes.finished.map(({ runId, state }) => [runId, state]);
  }
  if (notes.signals.length > 0) {
    payload.signals = notes.signals.map(({ runId, name }) => [runId, name]);
  }
  return JSON.stringify(payload);
}

/** Adds the changes of a `batch` payload written by {@link encodeNotes} to `notes`. */
export function decodeNotes(payload: string, notes: Notes): void {
  const decoded = JSON.parse(payload) as {
    work?: string[];
    finished?: [string, RunState][];
    signals?: [string, string][];
  };
  for (const queue of decoded.work ?? []) notes.work.add(queue);
  for (const [runId, state] of decoded.finished ?? []) notes.finished.push({ runId, state });
  for (const [runId, name] of decoded.signals ?? []) notes.signals.push({ runId, name });
}

/** True for SQLITE_BUSY and SQLITE_LOCKED, including their extended codes. */
export function isBusyError(error: unknown): boolean {
  if (!(error instanceof Database.SqliteError)) return false;
  return error.code.startsWith('SQLITE_BUSY') || error.code.startsWith('SQLITE_LOCKED');
}

/**
 * Calls a listener and ignores what it throws: a subscriber's bug must not undo or interrupt
 * the storage operation that has already committed.
 */
function callSafely(call: () => void): void {
  try {
    call();
  } catch {
    // Ignored on purpose, see above.
  }
}

/** Opens the database file. A missing parent directory becomes an error naming the path. */
function openDatabase(path: string, busyTimeoutMs: number): Database.Database {
  try {
    return new Database(path, { timeout: busyTimeoutMs });
  } catch (error) {
    if (error instanceof Error && /directory does not exist/i.test(error.message)) {
      throw new InvalidOptionError(
        'path',
        path,
        `a file in an existing directory; create the directory "${dirname(path)}" first ` +
          '(SQLite creates the file but not its directories)',
      );
    }
    throw error;
  }
}
