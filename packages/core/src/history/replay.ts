/**
 * Rebuilds a run's state from its history, event by event (time travel), and summarizes its
 * attempts. Pure functions over decoded events, so they are unit-tested without a storage.
 *
 * The readers below rely on the lifecycle event data that `LifecycleEventType` documents and
 * every backend writes: `{ error, delayMs }` for `retrying`, `{ error }` for `failed`.
 */
import { StalledError } from '../errors.js';
import type { RunEvent } from '../run.js';
import type { RunState, SerializedError } from '../storage/contract.js';

/** A run's state right after one event of its history. */
export interface HistorySnapshot {
  runId: string;
  /** The event this snapshot follows. */
  event: RunEvent;
  /** Position of `event` in the run's history, from 0. */
  index: number;
  state: RunState;
  /** Attempts counted so far, as `Run.attempt` counts them. */
  attempt: number;
  /** Last progress reported so far (`full` history only), or null. */
  progress: unknown;
  /** Error of the latest failed attempt so far, or null. */
  lastError: SerializedError | null;
  /** The run's output once it completed, else null. */
  output: unknown;
}

/** What a replay needs to know about the run beside its events. */
export interface ReplayContext {
  runId: string;
  /** State right after `enqueued`: `waiting`, `scheduled` or `available`. */
  initialState: RunState;
  /** The stored output, which the `completed` event does not carry. */
  output: unknown;
  /** The stored error, for a final failure event that carries none. */
  error: SerializedError | null;
}

/** How one attempt went, from its `started` event to the event that ended it. */
export interface AttemptSummary {
  attempt: number;
  startedAt: Date;
  /** Time of the event that ended the attempt, or null while it runs. */
  endedAt: Date | null;
  outcome:
    | 'running'
    | 'completed'
    | 'retrying'
    | 'failed'
    | 'stalled'
    | 'released'
    | 'suspended'
    | 'cancelled';
  error: SerializedError | null;
  durationMs: number | null;
  /** Log lines the attempt stored (`full` history only). */
  logLines: number;
}

type SnapshotState = Pick<
  HistorySnapshot,
  'state' | 'attempt' | 'progress' | 'lastError' | 'output'
>;

/** Event types after which a run's stored `runAt` no longer is its due time at enqueue. */
const RESCHEDULING_TYPES = new Set(['retrying', 'released', 'stalled', 'suspended', 'resumed']);

/**
 * The state right after `enqueued`: `waiting` for a run that waited on parents, `scheduled`
 * for a run due later, else `available`. The due time at enqueue is known only while no
 * event rescheduled the run; after that a delayed first attempt reads as `available`.
 */
export function initialStateOf(options: {
  waitedOnParents: boolean;
  runAt: number;
  events: readonly RunEvent[];
}): RunState {
  if (options.waitedOnParents) return 'waiting';
  const enqueued = options.events.find((event) => event.type === 'enqueued');
  const rescheduled = options.events.some((event) => RESCHEDULING_TYPES.has(event.type));
  if (enqueued !== undefined && !rescheduled && options.runAt > enqueued.at.getTime()) {
    return 'scheduled';
  }
  return 'available';
}

/** Returns one snapshot per event, in history order. */
export function replayEvents(
  events: readonly RunEvent[],
  context: ReplayContext,
): HistorySnapshot[] {
  let state: SnapshotState = {
    state: context.initialState,
    attempt: 0,
    progress: null,
    lastError: null,
    output: null,
  };
  return events.map((event, index) => {
    state = applyEvent(state, event, context);
    return { runId: context.runId, event, index, ...state };
  });
}

/** Applies one event to a state. Events that change no state (logs, signals) keep it. */
export function applyEvent(
  previous: SnapshotState,
  event: RunEvent,
  context: ReplayContext,
): SnapshotState {
  const next = { ...previous };
  const eventAttempt = event.attempt ?? previous.attempt;
  switch (event.type) {
    case 'enqueued':
      next.state = context.initialState;
      next.attempt = 0;
      break;
    case 'started':
      next.state = 'running';
      next.attempt = event.attempt ?? previous.attempt + 1;
      break;
    case 'progress':
      next.progress = event.data;
      break;
    case 'retrying':
      if (event.attempt === 0) {
        // A manual retry from dead letter: available again with the attempts reset.
        next.state = 'available';
        next.attempt = 0;
        next.output = null;
        break;
      }
      next.state = retryDelayOf(event.data) === 0 ? 'available' : 'scheduled';
      next.attempt = eventAttempt;
      next.lastError = errorIn(event.data) ?? previous.lastError;
      break;
    case 'failed':
      next.state = 'failed';
      next.lastError = errorIn(event.data) ?? context.error ?? previous.lastError;
      break;
    case 'completed':
      next.state = 'completed';
      next.output = context.output;
      break;
    case 'cancelled':
      next.state = 'cancelled';
      break;
    case 'stalled': {
      const stalled = new StalledError(context.runId, eventAttempt);
      next.lastError = { name: stalled.name, message: stalled.message, code: stalled.code };
      // A stall on the last attempt is followed by a `failed` event, which sets that state.
      next.state = 'available';
      break;
    }
    case 'released':
    case 'suspended':
      // The attempt gave its lease back and does not count.
      next.state = event.type === 'released' ? 'available' : 'suspended';
      next.attempt = Math.max(0, eventAttempt - 1);
      break;
    case 'resumed':
    case 'dependencies-met':
      next.state = 'available';
      break;
    default:
      break;
  }
  return next;
}

/** Summarizes each attempt of a run from its history. */
export function summarizeAttempts(events: readonly RunEvent[]): AttemptSummary[] {
  const attempts: AttemptSummary[] = [];
  let current: AttemptSummary | null = null;
  for (const event of events) {
    if (event.type === 'started') {
      current = {
        attempt: event.attempt ?? attempts.length + 1,
        startedAt: event.at,
        endedAt: null,
        outcome: 'running',
        error: null,
        durationMs: null,
        logLines: 0,
      };
      attempts.push(current);
      continue;
    }
    if (event.type === 'log' && event.attempt !== null) {
      const owner = attempts.findLast((attempt) => attempt.attempt === event.attempt);
      if (owner !== undefined) owner.logLines++;
      continue;
    }
    const outcome = ENDING_OUTCOMES[event.type];
    // A `failed` right after `stalled` ends the same attempt: the stall was its last chance.
    if (outcome === undefined || current === null) continue;
    if (current.outcome !== 'running' && current.outcome !== 'stalled') continue;
    if (event.type === 'retrying' && event.attempt === 0) continue;
    current.outcome = outcome;
    current.endedAt = event.at;
    current.durationMs = event.at.getTime() - current.startedAt.getTime();
    if (outcome === 'stalled') {
      const stalled = new StalledError(event.runId, current.attempt);
      current.error = { name: stalled.name, message: stalled.message, code: stalled.code };
    } else {
      current.error = errorIn(event.data) ?? current.error;
    }
  }
  return attempts;
}

const ENDING_OUTCOMES: Record<string, AttemptSummary['outcome'] | undefined> = {
  completed: 'completed',
  retrying: 'retrying',
  failed: 'failed',
  stalled: 'stalled',
  released: 'released',
  suspended: 'suspended',
  cancelled: 'cancelled',
};

/** The error of a `failed` or `retrying` event's data `{ error }`, or null without one. */
export function errorIn(data: unknown): SerializedError | null {
  if (typeof data !== 'object' || data === null) return null;
  const error = (data as { error?: unknown }).error;
  return isSerializedError(error) ? error : null;
}

function isSerializedError(value: unknown): value is SerializedError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SerializedError).name === 'string' &&
    typeof (value as SerializedError).message === 'string'
  );
}

/** Retry delay of a `retrying` event's data `{ delayMs }`, or null for a manual retry. */
function retryDelayOf(data: unknown): number | null {
  if (typeof data !== 'object' || data === null) return null;
  const delayMs = (data as { delayMs?: unknown }).delayMs;
  return typeof delayMs === 'number' ? delayMs : null;
}
