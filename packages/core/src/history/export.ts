/**
 * Encoders of a history export, as JSON or NDJSON text produced chunk by chunk, so a large
 * history streams to a file or an HTTP response without being held in memory.
 *
 * JSON: one document `{ format, version, exportedAt, query, runs: [...], events: [...] }`.
 * NDJSON: one object per line, each with a `kind`: first `header` (format, version,
 * exportedAt, query), then one `run` line per run, then one `event` line per event, oldest
 * first. Times are ISO 8601 strings; input, output, progress and event data are inlined as
 * JSON values.
 */
import type { Run, RunEvent } from '../run.js';

/** Export formats. */
export type ExportFormat = 'json' | 'ndjson';

/** Value of the `format` field of every export. */
export const EXPORT_FORMAT = 'zapjobs.history';
/** Version of the export layout; it changes only when a field changes meaning or goes away. */
export const EXPORT_VERSION = 1;

/** The metadata at the start of an export. */
export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  version: typeof EXPORT_VERSION;
  exportedAt: string;
  /** The query that selected the runs and events. */
  query: Record<string, unknown>;
}

/** Encodes pages of runs and then pages of events; each yielded string is one chunk. */
export async function* encodeExport(
  format: ExportFormat,
  header: ExportHeader,
  runPages: AsyncIterable<readonly Run[]>,
  eventPages: AsyncIterable<readonly RunEvent[]>,
): AsyncGenerator<string> {
  if (format === 'ndjson') {
    yield line({ kind: 'header', ...header });
    for await (const runs of runPages) {
      if (runs.length > 0) yield runs.map((run) => line({ kind: 'run', ...run })).join('');
    }
    for await (const events of eventPages) {
      if (events.length > 0)
        yield events.map((event) => line({ kind: 'event', ...event })).join('');
    }
    return;
  }

  const opening = JSON.stringify(header);
  yield `${opening.slice(0, -1)},"runs":[`;
  let first = true;
  for await (const runs of runPages) {
    if (runs.length === 0) continue;
    yield (first ? '' : ',') + runs.map((run) => JSON.stringify(run)).join(',');
    first = false;
  }
  yield '],"events":[';
  first = true;
  for await (const events of eventPages) {
    if (events.length === 0) continue;
    yield (first ? '' : ',') + events.map((event) => JSON.stringify(event)).join(',');
    first = false;
  }
  yield ']}\n';
}

function line(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** Renders a query for the export header: Dates as ISO strings, unset fields left out. */
export function describeQuery(query: Record<string, unknown>): Record<string, unknown> {
  const described: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    described[key] = value instanceof Date ? value.toISOString() : value;
  }
  return described;
}
