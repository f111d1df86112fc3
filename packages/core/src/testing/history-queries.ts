/**
 * History conformance: timelines of a run and of a group, queries by type and time, and
 * export as JSON and NDJSON.
 */
import { describe, expect, it } from 'vitest';
import type { ZapJobs } from '../client.js';
import { InvalidOptionError } from '../errors.js';
import type { AnyJob } from '../job.js';
import type { RunEvent } from '../run.js';
import type { ConformanceOptions } from './options.js';
import { waitForStorageTime } from './primitives/harness.js';
import { echoJob, historyJob, relayFixtureJobs } from './relay-fixtures.js';
import { FAST_WORKER, useRuntimeHarness } from './runtime-harness.js';

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Runs `historyJob` to completion: attempt 1 fails, attempt 2 completes. */
export async function completedHistoryRun(zap: ZapJobs<AnyJob>, groupId?: string) {
  const { runId } = await zap.enqueue(historyJob, { total: 3 }, groupId ? { groupId } : {});
  await zap.waitFor(runId, { timeoutMs: 10_000 });
  return runId;
}

export function describeHistoryQueries(options: ConformanceOptions): void {
  describe(`${options.name} history: timelines, queries and export`, () => {
    const harness = useRuntimeHarness(options);

    async function setup() {
      const test = await harness.client({ jobs: relayFixtureJobs });
      await test.zap.createWorker(FAST_WORKER).start();
      return test;
    }

    it('run timeline lists events and attempts', async () => {
      const { zap } = await setup();
      const runId = await completedHistoryRun(zap);
      const timeline = await zap.history.timeline(runId);

      expect(timeline.run.id).toBe(runId);
      expect(timeline.run.state).toBe('completed');
      expect(timeline.truncated).toBe(false);
      const types = timeline.events.map((event) => event.type);
      expect(types[0]).toBe('enqueued');
      expect(types.at(-1)).toBe('completed');
      expect(types.filter((type) => type === 'started')).toHaveLength(2);
      expect(types.filter((type) => type === 'retrying')).toHaveLength(1);
      expect(types.filter((type) => type === 'progress')).toHaveLength(3);
      expect(types.filter((type) => type === 'log')).toHaveLength(3);
      for (let i = 1; i < timeline.events.length; i++) {
        expect(timeline.events[i]!.at.getTime()).toBeGreaterThanOrEqual(
          timeline.events[i - 1]!.at.getTime(),
        );
      }

      expect(
        timeline.attempts.map(({ attempt, outcome, logLines }) => ({ attempt, outcome, logLines })),
      ).toEqual([
        { attempt: 1, outcome: 'retrying', logLines: 1 },
        { attempt: 2, outcome: 'completed', logLines: 2 },
      ]);
      expect(timeline.attempts[0]!.error?.message).toBe('first attempt fails');
      expect(timeline.attempts[1]!.error).toBeNull();
      for (const attempt of timeline.attempts) expect(attempt.durationMs).toBeGreaterThanOrEqual(0);

      const short = await zap.history.timeline(runId, { maxEvents: 3 });
      expect(short.events).toEqual(timeline.events.slice(0, 3));
      expect(short.truncated).toBe(true);
    });

    it('group timeline merges the runs of a group', async () => {
      const { zap } = await setup();
      const groupId = `group-${Date.now()}`;
      const first = await completedHistoryRun(zap, groupId);
      const { runId: second } = await zap.enqueue(echoJob, { text: 'b' }, { groupId });
      await zap.waitFor(second, { timeoutMs: 10_000 });
      await zap.enqueue(echoJob, { text: 'outside' });

      const timeline = await zap.history.groupTimeline(groupId);
      expect(timeline.runs.map((run) => run.id)).toEqual([first, second]);
      expect(timeline.counts.total).toBe(2);
      expect(timeline.counts.byState.completed).toBe(2);
      expect(new Set(timeline.events.map((event) => event.runId))).toEqual(
        new Set([first, second]),
      );
      expect(timeline.events.filter((event) => event.type === 'completed')).toHaveLength(2);
      const ids = timeline.events.map((event) => event.id);
      expect(ids).toEqual(
        (await collect(zap.history.events({ groupId, pageSize: 2 }))).map((event) => event.id),
      );
      expect(timeline.truncated).toBe(false);
    });

    it('queries filter by type and time', async () => {
      const { zap, storage } = await setup();
      const runId = await completedHistoryRun(zap);
      const all = await collect(zap.history.events({ runId }));

      const logs = await collect(zap.history.events({ runId, types: ['log'], pageSize: 1 }));
      expect(logs.map((event) => event.id)).toEqual(
        all.filter((event) => event.type === 'log').map((event) => event.id),
      );
      const lifecycle = await collect(
        zap.history.events({ runId, types: ['started', 'completed'] }),
      );
      expect(lifecycle.map((event) => event.type)).toEqual(['started', 'started', 'completed']);

      // Events appended after a known storage time are the only ones `since` returns.
      const mark = await storage.now();
      await waitForStorageTime(storage, mark);
      await storage.appendEvents([{ runId, type: 'note', data: '"after the mark"' }]);
      const since = await collect(zap.history.events({ runId, since: new Date(mark + 1) }));
      expect(since.map((event) => event.type)).toEqual(['note']);
      const until = await collect(zap.history.events({ runId, until: new Date(mark + 1) }));
      expect(until.map((event) => event.id)).toEqual(all.map((event) => event.id));
    });

    it('export streams JSON and NDJSON', async () => {
      const { zap } = await setup();
      const groupId = `export-${Date.now()}`;
      const runId = await completedHistoryRun(zap, groupId);
      const events = await collect(zap.history.events({ runId }));
      const expectedEvents = JSON.parse(JSON.stringify(events)) as unknown[];

      // A small page size makes the export read, and yield, several pages.
      const jsonChunks = await collect(zap.history.export({ runId, format: 'json', pageSize: 3 }));
      expect(jsonChunks.length).toBeGreaterThan(4);
      const document = JSON.parse(jsonChunks.join('')) as Record<string, unknown>;
      expect(document.format).toBe('zapjobs.history');
      expect(document.version).toBe(1);
      expect(document.query).toEqual({ runId, pageSize: 3 });
      expect((document.runs as { id: string; input: unknown }[]).map((run) => run.id)).toEqual([
        runId,
      ]);
      expect((document.runs as { input: unknown }[])[0]!.input).toEqual({ total: 3 });
      expect(document.events).toEqual(expectedEvents);

      const ndjson = (await collect(zap.history.export({ groupId, format: 'ndjson' }))).join('');
      expect(ndjson.endsWith('\n')).toBe(true);
      const lines = ndjson
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as { kind: string } & Record<string, unknown>);
      expect(lines[0]).toMatchObject({ kind: 'header', format: 'zapjobs.history', version: 1 });
      expect(lines.filter((line) => line.kind === 'run').map((line) => line.id)).toEqual([runId]);
      const eventLines = lines.filter((line) => line.kind === 'event');
      expect(eventLines.map(({ kind, ...event }) => event)).toEqual(expectedEvents);
      const atIso = (eventLines[0] as unknown as RunEvent & { at: string }).at;
      expect(new Date(atIso).toISOString()).toBe(atIso);

      const withoutRuns = (
        await collect(zap.history.export({ runId, format: 'ndjson', includeRuns: false }))
      ).join('');
      expect(withoutRuns).not.toContain('"kind":"run"');
    });

    it('export checks runId and groupId before reading runs', async () => {
      const { zap } = await harness.client({ jobs: relayFixtureJobs });
      for (const key of ['runId', 'groupId']) {
        const error = await collect(
          zap.history.export({ format: 'json', [key]: {} } as never),
        ).then(
          () => null,
          (thrown: unknown) => thrown,
        );
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect(error).toMatchObject({ option: key, value: {} });
      }
    });
  });
}
