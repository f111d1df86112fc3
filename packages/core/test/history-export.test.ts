import { describe, expect, it } from 'vitest';
import { InvalidOptionError, NotSupportedError } from '../src/errors.js';
import { describeQuery, type ExportHeader, encodeExport } from '../src/history/export.js';
import { applyRetention, checkCompactOptions, compactEvents } from '../src/history/retention.js';
import type { Run, RunEvent } from '../src/run.js';
import type { Storage } from '../src/storage/contract.js';

const header: ExportHeader = {
  format: 'zapjobs.history',
  version: 1,
  exportedAt: '2026-01-02T03:04:05.000Z',
  query: { runId: 'r1' },
};

function runEvent(id: number, data: unknown): RunEvent {
  return {
    id: String(id),
    runId: 'r1',
    groupId: null,
    tenantId: null,
    type: 'log',
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, id)),
    attempt: 1,
    data,
  };
}

const run = { id: 'r1', job: 'mail', createdAt: new Date(Date.UTC(2026, 0, 1)) } as unknown as Run;

async function* pages<T>(...items: T[][]): AsyncGenerator<T[]> {
  yield* items;
}

async function text(chunks: AsyncIterable<string>): Promise<{ chunks: string[]; all: string }> {
  const collected: string[] = [];
  for await (const chunk of chunks) collected.push(chunk);
  return { chunks: collected, all: collected.join('') };
}

describe('encodeExport', () => {
  const events = [runEvent(1, { message: 'a' }), runEvent(2, 'b "quoted"'), runEvent(3, null)];

  it('JSON is one document built from several chunks', async () => {
    const { chunks, all } = await text(
      encodeExport('json', header, pages([run]), pages(events.slice(0, 2), [], events.slice(2))),
    );
    expect(chunks.length).toBeGreaterThan(3);
    const document = JSON.parse(all) as Record<string, unknown>;
    expect(document).toEqual({
      ...header,
      runs: [{ id: 'r1', job: 'mail', createdAt: '2026-01-01T00:00:00.000Z' }],
      events: JSON.parse(JSON.stringify(events)),
    });
    expect((document.events as { at: string }[])[0]!.at).toBe('2026-01-01T00:00:01.000Z');
  });

  it('JSON with no runs or events is still valid', async () => {
    const { all } = await text(encodeExport('json', header, pages(), pages([])));
    expect(JSON.parse(all)).toEqual({ ...header, runs: [], events: [] });
  });

  it('NDJSON has a header, runs, then events, one per line', async () => {
    const { all } = await text(encodeExport('ndjson', header, pages([run]), pages(events)));
    expect(all.endsWith('\n')).toBe(true);
    const lines = all.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.map((line) => line.kind)).toEqual(['header', 'run', 'event', 'event', 'event']);
    expect(parsed[0]).toEqual({ kind: 'header', ...header });
    expect(parsed[3]).toEqual({ kind: 'event', ...JSON.parse(JSON.stringify(events[1])) });
  });

  it('describeQuery renders dates and drops unset fields', () => {
    expect(
      describeQuery({ runId: 'r', since: new Date(0), until: undefined, types: ['log'] }),
    ).toEqual({ runId: 'r', since: '1970-01-01T00:00:00.000Z', types: ['log'] });
  });
});

describe('retention options', () => {
  it('compaction defaults to log and progress events', () => {
    expect(checkCompactOptions({ olderThanMs: 1_000 })).toEqual({
      olderThanMs: 1_000,
      types: ['log', 'progress'],
    });
  });

  it('compaction never drops lifecycle events other than progress', () => {
    expect(
      checkCompactOptions({ olderThanMs: 0, types: ['progress', 'checkpoint'] }).types,
    ).toEqual(['progress', 'checkpoint']);
    for (const type of ['enqueued', 'started', 'completed', 'failed', 'retrying', 'signal']) {
      expect(() => checkCompactOptions({ olderThanMs: 0, types: [type] })).toThrow(
        InvalidOptionError,
      );
    }
    expect(() => checkCompactOptions({ olderThanMs: -1 })).toThrow('olderThanMs');
    expect(() => checkCompactOptions({})).toThrow('olderThanMs');
    expect(() => checkCompactOptions({ olderThanMs: 0, types: [] })).toThrow('types');
    expect(() => checkCompactOptions({ olderThanMs: 0, kinds: ['log'] })).toThrow('kinds');
  });

  it('a storage without compactEvents rejects before deleting anything', async () => {
    const calls: string[] = [];
    // Only the name is read before the capability check rejects.
    const storage = new Proxy({ name: 'plain' } as Storage, {
      get(target, property) {
        if (property !== 'name' && property !== 'compactEvents' && property !== 'then') {
          calls.push(String(property));
        }
        return Reflect.get(target, property);
      },
    });
    await expect(compactEvents(storage, { olderThanMs: 0 })).rejects.toBeInstanceOf(
      NotSupportedError,
    );
    await expect(
      applyRetention(storage, { runs: { completedMs: 0 }, events: { olderThanMs: 0 } }),
    ).rejects.toThrow('Storage "plain" cannot compact event history');
    expect(calls).toEqual([]);
  });

  it('retention policies are checked', async () => {
    const storage = { name: 'plain' } as Storage;
    await expect(applyRetention(storage, { runs: { doneMs: 1 } } as never)).rejects.toThrow(
      'runs.doneMs',
    );
    await expect(applyRetention(storage, { runs: { completedMs: -5 } })).rejects.toThrow(
      'runs.completedMs',
    );
    await expect(applyRetention(storage, { batchSize: 0 })).rejects.toThrow('batchSize');
  });
});
