import { describe, expect, it } from 'vitest';
import type {
  ClaimedRun,
  DependencyCondition,
  NewRun,
  RunState,
  Storage,
} from '../../storage/contract.js';
import type { ConformanceOptions } from '../options.js';
import {
  claim,
  eventTypes,
  type Harness,
  insert,
  leaseOf,
  mustGetRun,
  newRun,
  useStorage,
  waitForStorageTime,
} from './harness.js';

/**
 * Rounds per test. Each round races its parents once, so a backend that loses the race in only
 * some rounds is still likely to fail the test.
 */
const ROUNDS = 20;
/** Connections that finish parents, one parent each: the widest fan-in of a round. */
const MAX_PARENTS = 8;

/** Storage call that moves a parent to a terminal state. */
type Finish = 'complete' | 'fail' | 'cancel' | 'reclaim';

/** State a parent ends in after each kind of finish. */
const FINISHED_STATE: Record<Finish, RunState> = {
  complete: 'completed',
  fail: 'failed',
  cancel: 'cancelled',
  reclaim: 'failed',
};

/** Parents in a round: 4 to 8, so narrow and wide fan-ins both race. */
function parentCount(round: number): number {
  return 4 + (round % (MAX_PARENTS - 3));
}

/** Opens one extra connection per parent and makes one call on each, so none still connects. */
async function openConnections(h: Harness): Promise<Storage[]> {
  const connections: Storage[] = [];
  for (let i = 0; i < MAX_PARENTS; i++) connections.push(await h.open());
  await Promise.all(connections.map((connection) => connection.now()));
  return connections;
}

/** Inserts parents in a queue of their own and claims them all (reclaim: with a short lease). */
async function claimParents(
  storage: Storage,
  parents: readonly NewRun[],
  leaseMs = 30_000,
): Promise<ClaimedRun[]> {
  const queue = parents[0]!.queue;
  const claimed = await claim(storage, { queues: [queue], limit: parents.length, leaseMs });
  expect(claimed.map((run) => run.id).sort()).toEqual(parents.map((run) => run.id).sort());
  return parents.map((parent) => claimed.find((run) => run.id === parent.id)!);
}

/** Output a completed parent stores, distinct per parent so a passed output names its source. */
function outputOf(index: number): string {
  return `{"parent":${index}}`;
}

/**
 * Finishes every parent at the same time, parent i on connection i, each in a call of its own.
 * Reclaimed parents must have an expired lease. Each connection reclaims one run, and runs that
 * a backend leaves for a later call are reclaimed afterwards, so every parent ends `failed`.
 */
async function finishConcurrently(
  connections: readonly Storage[],
  parents: readonly ClaimedRun[],
  finishOf: (index: number) => Finish,
): Promise<void> {
  const error = { name: 'Error', message: 'parent failed' };
  const results = await Promise.all(
    parents.map(async (parent, i) => {
      const connection = connections[i]!;
      switch (finishOf(i)) {
        case 'complete':
          return connection.complete([{ ...leaseOf(parent), output: outputOf(i) }]);
        case 'fail':
          return connection.fail([{ ...leaseOf(parent), error, retryDelayMs: null }]);
        case 'cancel':
          return [(await connection.cancel(parent.id))?.cancelled === true];
        case 'reclaim':
          return (await connection.reclaimExpired(1)).map((run) => run.state === 'failed');
      }
    }),
  );

  if (parents.every((_, i) => finishOf(i) === 'reclaim')) {
    const left = parents.length - results.flat().length;
    if (left > 0) await connections[0]!.reclaimExpired(left);
  } else {
    expect(results).toEqual(parents.map(() => [true]));
  }

  for (const [i, parent] of parents.entries()) {
    const state = (await mustGetRun(connections[0]!, parent.id)).state;
    expect({ parent: i, state }).toEqual({ parent: i, state: FINISHED_STATE[finishOf(i)] });
  }
}

/** Checks a child that every parent edge has resolved: its state, edges and events. */
async function expectSettled(
  storage: Storage,
  round: number,
  child: NewRun,
  expected: 'available' | 'cancelled',
): Promise<void> {
  const run = await mustGetRun(storage, child.id);
  expect({ round, state: run.state }).toEqual({ round, state: expected });

  // Every parent finished, so every edge is resolved: all met, or all unmet for a cancelled run.
  const edges = await storage.listDependencies(child.id);
  expect(edges).toHaveLength(child.dependsOn!.length);
  for (const edge of edges) {
    expect({ round, parent: edge.parentId, satisfied: edge.satisfied }).toEqual({
      round,
      parent: edge.parentId,
      satisfied: expected === 'available',
    });
  }

  const settledEvent = expected === 'available' ? 'dependencies-met' : 'cancelled';
  expect({ round, events: await eventTypes(storage, child.id) }).toEqual({
    round,
    events: ['enqueued', settledEvent],
  });
}

interface FanInCase {
  condition: DependencyCondition;
  finish: Finish | 'mixed';
  expected: 'available' | 'cancelled';
}

const FAN_IN_CASES: readonly FanInCase[] = [
  { condition: 'always', finish: 'complete', expected: 'available' },
  { condition: 'success', finish: 'complete', expected: 'available' },
  { condition: 'failure', finish: 'fail', expected: 'available' },
  { condition: 'always', finish: 'fail', expected: 'available' },
  { condition: 'failure', finish: 'cancel', expected: 'available' },
  { condition: 'always', finish: 'reclaim', expected: 'available' },
  { condition: 'always', finish: 'mixed', expected: 'available' },
  { condition: 'success', finish: 'fail', expected: 'cancelled' },
];

const MIXED: readonly Finish[] = ['complete', 'fail', 'cancel'];

let queueCount = 0;

/** Returns a queue name no other round uses, so a claim takes exactly the runs of its round. */
function freshQueue(prefix: string): string {
  queueCount += 1;
  return `${prefix}-${queueCount}`;
}

/**
 * Registers the tests of parents that finish in concurrent calls on separate connections: the
 * waiting children must be settled once every edge is resolved, whichever call resolves last.
 */
export function describeDependencyRace(options: ConformanceOptions): void {
  describe('dependencies under concurrent finishes', () => {
    const h = useStorage(options);

    for (const { condition, finish, expected } of FAN_IN_CASES) {
      it(`${condition} fan-in after concurrent ${finish} is ${expected}`, async () => {
        const connections = await openConnections(h);
        const finishOf = (i: number): Finish => (finish === 'mixed' ? MIXED[i % 3]! : finish);
        const leaseMs = finish === 'reclaim' ? 50 : 30_000;
        const passOutput = finish === 'complete';

        for (let round = 0; round < ROUNDS; round++) {
          const queue = freshQueue('fan-in');
          const parents = Array.from({ length: parentCount(round) }, () =>
            newRun({ queue, maxAttempts: 1 }),
          );
          // Two children share the parents, so one finish settles several waiting runs.
          const children = [0, 1].map((k) =>
            newRun({
              queue: `${queue}-children`,
              dependsOn: parents.map((parent, i) => ({
                runId: parent.id,
                condition,
                passOutput: passOutput && k === 0 && i === round % parents.length,
              })),
            }),
          );
          await insert(h.storage, ...parents, ...children);
          const claimed = await claimParents(h.storage, parents, leaseMs);
          if (finish === 'reclaim') {
            const expiry = Math.max(...claimed.map((run) => run.leaseExpiresAt!));
            await waitForStorageTime(h.storage, expiry);
          }

          await finishConcurrently(connections, claimed, finishOf);
          for (const child of children) await expectSettled(h.storage, round, child, expected);
          if (passOutput) {
            const input = (await mustGetRun(h.storage, children[0]!.id)).input;
            expect({ round, input }).toEqual({ round, input: outputOf(round % parents.length) });
          }
        }
      });
    }

    it('concurrent cancel cascades release grandchild', async () => {
      const connections = await openConnections(h);

      for (let round = 0; round < ROUNDS; round++) {
        const queue = freshQueue('cascade');
        const parents = Array.from({ length: parentCount(round) }, () =>
          newRun({ queue, maxAttempts: 1 }),
        );
        // A middle run is cancelled when its parent fails or is cancelled, resolving a grandchild edge.
        const middles = parents.map((parent) =>
          newRun({
            queue: `${queue}-middles`,
            dependsOn: [{ runId: parent.id, condition: 'success' }],
          }),
        );
        const grandchild = newRun({
          queue: `${queue}-grandchild`,
          dependsOn: middles.map((middle, i) => ({
            runId: middle.id,
            condition: i % 2 === 0 ? 'failure' : 'always',
          })),
        });
        await insert(h.storage, ...parents, ...middles, grandchild);
        const claimed = await claimParents(h.storage, parents);

        await finishConcurrently(connections, claimed, (i) => (i % 2 === 0 ? 'fail' : 'cancel'));
        for (const middle of middles) await expectSettled(h.storage, round, middle, 'cancelled');
        await expectSettled(h.storage, round, grandchild, 'available');
      }
    });

    it('child inserted while parents finish', async () => {
      const connections = await openConnections(h);

      for (let round = 0; round < ROUNDS; round++) {
        const queue = freshQueue('insert');
        const parents = Array.from({ length: parentCount(round) }, () => newRun({ queue }));
        await insert(h.storage, ...parents);
        const claimed = await claimParents(h.storage, parents);
        const child = newRun({
          queue: `${queue}-child`,
          dependsOn: parents.map((parent) => ({ runId: parent.id, condition: 'success' })),
        });

        const [inserted] = await Promise.all([
          h.storage.insertRuns([child]),
          finishConcurrently(connections, claimed, () => 'complete'),
        ]);
        expect(inserted.map((result) => result.created)).toEqual([true]);
        const states: RunState[] = ['waiting', 'available'];
        expect(states).toContain(inserted[0]!.state);
        await expectSettled(h.storage, round, child, 'available');
      }
    });
  });
}
