/**
 * Runtime conformance of the tenant-scoped client's relay and history: a tenant waits for and
 * reads only its own runs, and a guessed run id of another tenant behaves as an unknown one.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, RunNotFoundError } from '../errors.js';
import { uuidv7 } from '../internal/uuid.js';
import type { ConformanceOptions } from './options.js';
import { echoJob, relayFixtureJobs } from './relay-fixtures.js';
import { FAST_WORKER, useRuntimeHarness } from './runtime-harness.js';

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected the call to be rejected, but it resolved.');
}

/** Returns the message of a RunNotFoundError without its run id, to compare two of them. */
function notFoundMessage(error: unknown, runId: string): string {
  expect(error).toBeInstanceOf(RunNotFoundError);
  return (error as Error).message.replace(runId, '<id>');
}

export function describeRuntimeTenantReads(options: ConformanceOptions): void {
  describe(`${options.name} runtime: tenant relay and history`, () => {
    const harness = useRuntimeHarness(options);

    it('tenant waits reject another tenant run', async () => {
      const { zap } = await harness.client({ jobs: relayFixtureJobs });
      const acme = zap.forTenant('acme');
      const globex = zap.forTenant('globex');
      await zap.createWorker(FAST_WORKER).start();

      const output = await acme.enqueueAndWait(echoJob, { text: 'hi' }, { timeoutMs: 10_000 });
      expect(output.text).toBe('hi');
      const { runs } = await acme.listRuns();
      expect(runs.map((run) => run.tenantId)).toEqual(['acme']);
      const runId = runs[0]!.id;
      expect(await acme.waitFor(runId, { timeoutMs: 10_000 })).toEqual(output);

      // A guessed id of another tenant's run, finished or not, is rejected as an unknown id.
      const unknownId = uuidv7();
      const unknown = notFoundMessage(
        await rejection(globex.waitFor(unknownId, { timeoutMs: 10_000 })),
        unknownId,
      );
      const guessed = await rejection(globex.waitFor(runId, { timeoutMs: 10_000 }));
      expect(notFoundMessage(guessed, runId)).toBe(unknown);
      const slow = await acme.enqueue(echoJob, { text: 'slow', delayMs: 300 });
      const unfinished = await rejection(globex.waitFor(slow.runId, { timeoutMs: 10_000 }));
      expect(notFoundMessage(unfinished, slow.runId)).toBe(unknown);
      expect(zap.pendingWaits).toBe(0);
      expect((await acme.waitFor<{ text: string }>(slow.runId, { timeoutMs: 10_000 })).text).toBe(
        'slow',
      );

      // Options are checked before the run is looked up, and the tenant cannot be swapped.
      const badOptions = await rejection(globex.waitFor(runId, { timeoutMs: -1 }));
      expect(badOptions).toBeInstanceOf(InvalidOptionError);
      const otherTenant = await rejection(
        acme.enqueueAndWait(echoJob, { text: 'x' }, { tenantId: 'globex', timeoutMs: 10_000 }),
      );
      expect(otherTenant).toBeInstanceOf(InvalidOptionError);
      expect((await globex.listRuns()).runs).toEqual([]);
    });

    it('tenant history hides another tenant', async () => {
      const { zap } = await harness.client({ jobs: relayFixtureJobs });
      const acme = zap.forTenant('acme');
      const globex = zap.forTenant('globex');
      await zap.createWorker(FAST_WORKER).start();
      const own = await acme.enqueue(echoJob, { text: 'a' }, { groupId: 'shared' });
      const other = await globex.enqueue(echoJob, { text: 'g' }, { groupId: 'shared' });
      await acme.waitFor(own.runId, { timeoutMs: 10_000 });
      await globex.waitFor(other.runId, { timeoutMs: 10_000 });

      // The owner reads its run.
      const timeline = await acme.history.timeline(own.runId);
      expect(timeline.run.id).toBe(own.runId);
      expect(timeline.events.map((event) => event.type)).toEqual([
        'enqueued',
        'started',
        'completed',
      ]);
      expect((await acme.history.replay(own.runId)).snapshots.at(-1)?.state).toBe('completed');

      // Every read by run id rejects a guessed id of another tenant's run as not found.
      const unknownId = uuidv7();
      const unknown = notFoundMessage(await rejection(acme.history.timeline(unknownId)), unknownId);
      const reads: [string, () => Promise<unknown>][] = [
        ['timeline', () => acme.history.timeline(other.runId)],
        ['replay', () => acme.history.replay(other.runId)],
        ['stateAt', () => acme.history.stateAt(other.runId, { at: new Date() })],
        ['rerun', () => acme.history.rerun(other.runId)],
        ['links', () => acme.history.links(other.runId)],
      ];
      for (const [name, read] of reads) {
        const error = await rejection(read());
        expect(notFoundMessage(error, other.runId), name).toBe(unknown);
      }
      expect((await globex.listRuns()).runs.map((run) => run.id)).toEqual([other.runId]);

      // A shared group shows only the tenant's own runs and events.
      const group = await acme.history.groupTimeline('shared');
      expect(group.runs.map((run) => run.id)).toEqual([own.runId]);
      expect(group.counts.total).toBe(1);
      expect(group.counts.byState.completed).toBe(1);
      expect(group.events.length).toBeGreaterThan(0);
      expect(group.events.every((event) => event.runId === own.runId)).toBe(true);
      expect((await zap.history.groupTimeline('shared')).counts.total).toBe(2);

      const events = await collect(acme.history.events({ groupId: 'shared' }));
      expect([...new Set(events.map((event) => event.runId))]).toEqual([own.runId]);
      expect(await collect(acme.history.events({ runId: other.runId }))).toEqual([]);
      const swapped = await rejection(collect(acme.history.events({ tenantId: 'globex' })));
      expect(swapped).toBeInstanceOf(InvalidOptionError);

      // Exports leave out the other tenant's runs and events, and name the tenant.
      const lines = (await collect(acme.history.export({ format: 'ndjson', groupId: 'shared' })))
        .join('')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { kind: string; id?: string; runId?: string });
      const header = lines[0] as unknown as { query: Record<string, unknown> };
      expect(header.query).toEqual({ groupId: 'shared', tenantId: 'acme' });
      const kinds = (kind: string) => lines.filter((line) => line.kind === kind);
      expect(kinds('run').map((line) => line.id)).toEqual([own.runId]);
      expect(kinds('event').length).toBe(events.length);
      expect(kinds('event').every((line) => line.runId === own.runId)).toBe(true);
      const guessedExport = JSON.parse(
        (await collect(acme.history.export({ format: 'json', runId: other.runId }))).join(''),
      );
      expect(guessedExport.runs).toEqual([]);
      expect(guessedExport.events).toEqual([]);

      // Re-runs stay with the tenant. Compaction and retention stay on zap.history.
      const again = await acme.history.rerun(own.runId);
      expect((await zap.getRun(again.runId))?.tenantId).toBe('acme');
      expect((await acme.history.links(own.runId)).reruns).toEqual([again.runId]);
      expect('compact' in acme.history).toBe(false);
      expect('applyRetention' in acme.history).toBe(false);
    });
  });
}
