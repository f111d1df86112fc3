import { describe, expect, it } from 'vitest';
import {
  errorIn,
  initialStateOf,
  type ReplayContext,
  replayEvents,
  summarizeAttempts,
} from '../src/history/replay.js';
import type { RunEvent } from '../src/run.js';

const RUN_ID = '01890a5d-ac96-774b-bcce-b302099a8057';
const ERROR = { name: 'Error', message: 'flaky' };

let nextId = 0;
function event(
  type: string,
  attempt: number | null,
  data: unknown = null,
  atMs = nextId,
): RunEvent {
  nextId++;
  return {
    id: String(nextId),
    runId: RUN_ID,
    groupId: null,
    tenantId: null,
    type,
    at: new Date(atMs * 10),
    attempt,
    data,
  };
}

const context: ReplayContext = {
  runId: RUN_ID,
  initialState: 'available',
  output: { sent: 3 },
  error: { name: 'Error', message: 'final' },
};

describe('replayEvents', () => {
  it('follows a retried run to completion', () => {
    const events = [
      event('enqueued', 0),
      event('started', 1),
      event('progress', 1, { done: 1 }),
      event('log', 1, { level: 'info', message: 'x' }),
      event('retrying', 1, { error: ERROR, delayMs: 0 }),
      event('started', 2),
      event('completed', 2),
    ];
    const snapshots = replayEvents(events, context);
    expect(snapshots.map(({ state, attempt }) => [state, attempt])).toEqual([
      ['available', 0],
      ['running', 1],
      ['running', 1],
      ['running', 1],
      ['available', 1],
      ['running', 2],
      ['completed', 2],
    ]);
    expect(snapshots[2]!.progress).toEqual({ done: 1 });
    expect(snapshots[4]!.lastError).toEqual(ERROR);
    expect(snapshots[5]!.output).toBeNull();
    expect(snapshots[6]!.output).toEqual({ sent: 3 });
    expect(snapshots[6]!.progress).toEqual({ done: 1 });
    expect(snapshots.map((snapshot) => snapshot.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('falls back to the stored error for a failure event without one', () => {
    const snapshots = replayEvents(
      [
        event('enqueued', 0),
        event('started', 1),
        event('retrying', 1, { error: ERROR, delayMs: 5 }),
        event('started', 2),
        event('failed', 2),
      ],
      context,
    );
    expect(snapshots[2]).toMatchObject({ state: 'scheduled', lastError: ERROR });
    expect(snapshots[4]).toMatchObject({ state: 'failed', lastError: context.error });
  });

  it('handles stalls, releases, suspensions and manual retries', () => {
    const snapshots = replayEvents(
      [
        event('enqueued', 0),
        event('started', 1),
        event('released', 1),
        event('started', 1),
        event('suspended', 1),
        event('resumed', 0),
        event('started', 1),
        event('stalled', 1, { willRetry: false }),
        event('failed', 1, { error: ERROR }),
        event('retrying', 0, { manual: true }),
      ],
      context,
    );
    expect(snapshots.map(({ state, attempt }) => [state, attempt])).toEqual([
      ['available', 0],
      ['running', 1],
      ['available', 0],
      ['running', 1],
      ['suspended', 0],
      ['available', 0],
      ['running', 1],
      ['available', 1],
      ['failed', 1],
      ['available', 0],
    ]);
    expect(snapshots[7]!.lastError?.name).toBe('StalledError');
    expect(snapshots[7]!.lastError?.code).toBe('RUN_STALLED');
    expect(snapshots[9]!.lastError).toEqual(ERROR);
  });
});

describe('initialStateOf', () => {
  const enqueuedAt = 1_000;
  const events = [event('enqueued', 0, null, enqueuedAt / 10)];

  it('tells waiting, scheduled and available apart', () => {
    expect(initialStateOf({ waitedOnParents: true, runAt: 0, events })).toBe('waiting');
    expect(initialStateOf({ waitedOnParents: false, runAt: enqueuedAt + 500, events })).toBe(
      'scheduled',
    );
    expect(initialStateOf({ waitedOnParents: false, runAt: enqueuedAt, events })).toBe('available');
  });

  it('ignores runAt once a retry moved it', () => {
    const retried = [...events, event('retrying', 1, ERROR)];
    expect(
      initialStateOf({ waitedOnParents: false, runAt: enqueuedAt + 500, events: retried }),
    ).toBe('available');
  });
});

describe('summarizeAttempts', () => {
  it('ends each attempt at its outcome and counts its log lines', () => {
    const attempts = summarizeAttempts([
      event('enqueued', 0, null, 0),
      event('started', 1, null, 1),
      event('log', 1, {}, 2),
      event('retrying', 1, { error: ERROR }, 3),
      event('started', 2, null, 5),
      event('log', 2, {}, 6),
      event('log', 2, {}, 7),
      event('stalled', 2, {}, 9),
      event('failed', 2, { error: { name: 'StalledError', message: 'gone' } }, 9),
      event('retrying', 0, { manual: true }, 10),
      event('started', 1, null, 12),
    ]);
    expect(
      attempts.map(({ attempt, outcome, logLines, durationMs }) => ({
        attempt,
        outcome,
        logLines,
        durationMs,
      })),
    ).toEqual([
      { attempt: 1, outcome: 'retrying', logLines: 1, durationMs: 20 },
      { attempt: 2, outcome: 'failed', logLines: 2, durationMs: 40 },
      { attempt: 1, outcome: 'running', logLines: 0, durationMs: null },
    ]);
    expect(attempts[0]!.error).toEqual(ERROR);
    expect(attempts[1]!.error?.message).toBe('gone');
    expect(attempts[2]!.endedAt).toBeNull();
  });
});

describe('errorIn', () => {
  it('reads the documented { error } shape and nothing else', () => {
    expect(errorIn({ error: ERROR, delayMs: 5 })).toEqual(ERROR);
    expect(errorIn({ error: ERROR })).toEqual(ERROR);
    expect(errorIn(ERROR)).toBeNull();
    expect(errorIn({ manual: true })).toBeNull();
    expect(errorIn('text')).toBeNull();
    expect(errorIn(null)).toBeNull();
  });
});
