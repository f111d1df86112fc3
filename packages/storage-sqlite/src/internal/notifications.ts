import type { RunState } from '@zapjobs/core/storage';
import { type Connection, decodeNotes, type Notes } from './connection.js';

/** Rows read per poll; a longer backlog is read on the following polls. */
const POLL_BATCH = 1_000;

/**
 * A change-log row. This version writes `batch` rows only; `work`, `finished` and `signal`
 * rows, one per change, come from processes still running schema version 2 code.
 */
interface NotificationRow {
  id: number;
  source: string;
  kind: 'batch' | 'work' | 'finished' | 'signal';
  run_id: string | null;
  queue: string | null;
  name: string | null;
  state: RunState | null;
  payload: string | null;
}

/**
 * Detects commits by other connections and processes and relays their notifications to this
 * connection's listeners. While idle, each tick costs one `PRAGMA data_version`, which changes
 * only when another connection committed; only then is the change log read.
 */
export class NotificationPoller {
  private timer: NodeJS.Timeout | null = null;
  private dataVersion = 0;
  private lastId = 0;

  constructor(
    private readonly conn: Connection,
    private readonly pollIntervalMs: number,
  ) {}

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer !== null) return;
    this.dataVersion = this.readDataVersion();
    this.lastId = this.conn
      .stmt('SELECT coalesce(max(id), 0) FROM zapjobs_notifications')
      .pluck()
      .get() as number;
    this.timer = setInterval(() => this.poll(), this.pollIntervalMs);
    // The poller alone must not keep a process alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private readDataVersion(): number {
    return this.conn.db.pragma('data_version', { simple: true }) as number;
  }

  private poll(): void {
    try {
      const version = this.readDataVersion();
      if (version === this.dataVersion) return;
      const rows = this.conn
        .stmt('SELECT * FROM zapjobs_notifications WHERE id > ? ORDER BY id LIMIT ?')
        .all(this.lastId, POLL_BATCH) as NotificationRow[];
      // With a full batch, leave the version unchanged so the next tick reads on.
      if (rows.length < POLL_BATCH) this.dataVersion = version;
      const last = rows[rows.length - 1];
      if (last !== undefined) this.lastId = last.id;
      this.conn.emit(this.collect(rows));
    } catch {
      // A failed read (busy database, closed connection) skips this tick: throwing from a
      // timer would crash the process, and the next tick reads the same rows again.
    }
  }

  /** Turns change-log rows written by other connections into notes. */
  private collect(rows: readonly NotificationRow[]): Notes {
    const notes: Notes = { work: new Set(), finished: [], signals: [] };
    for (const row of rows) {
      if (row.source === this.conn.source) continue;
      if (row.kind === 'batch' && row.payload !== null) decodeNotes(row.payload, notes);
      if (row.kind === 'work' && row.queue !== null) notes.work.add(row.queue);
      if (row.kind === 'finished' && row.run_id !== null && row.state !== null) {
        notes.finished.push({ runId: row.run_id, state: row.state });
      }
      if (row.kind === 'signal' && row.run_id !== null && row.name !== null) {
        notes.signals.push({ runId: row.run_id, name: row.name });
      }
    }
    return notes;
  }
}
