/**
 * The logger a handler gets as `ctx.logger`: it writes to the worker's logger and, when the
 * run records `full` history, stores each line as a `log` event of the run.
 */
import type { Logger } from '../logger.js';
import type { NewEvent } from '../storage/contract.js';

/** Longest stored log event data, in characters of JSON; longer lines are cut. */
const MAX_LOG_DATA_LENGTH = 16_384;

type Level = 'debug' | 'info' | 'warn' | 'error';

export interface EventSink {
  /** Queues an event for the next batched `appendEvents` call. */
  append(event: NewEvent): Promise<void>;
}

/** A run's stored log lines still being written; `flush` waits for them. */
export class RunLogRecorder {
  readonly #pending = new Set<Promise<void>>();
  readonly #sink: EventSink;
  readonly #runId: string;
  readonly #attempt: number;
  readonly #onError: (error: unknown) => void;

  constructor(sink: EventSink, runId: string, attempt: number, onError: (error: unknown) => void) {
    this.#sink = sink;
    this.#runId = runId;
    this.#attempt = attempt;
    this.#onError = onError;
  }

  record(level: Level, message: string, fields: Record<string, unknown>): void {
    const event: NewEvent = {
      runId: this.#runId,
      type: 'log',
      attempt: this.#attempt,
      data: encodeLogData(level, message, fields),
    };
    const write = this.#sink.append(event).catch(this.#onError);
    this.#pending.add(write);
    void write.finally(() => this.#pending.delete(write));
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }
}

/**
 * Returns a logger that writes to `base` and, when `recorder` is set, records each line.
 * Bindings of its children are stored with each line; those of `base` (run id, worker id)
 * are not, because the event already carries them.
 */
export function runLogger(
  base: Logger,
  recorder: RunLogRecorder | null,
  bindings: Record<string, unknown> = {},
): Logger {
  if (recorder === null) return base;
  const hasChild = typeof base.child === 'function';
  const write = (level: Level) => (fields: Record<string, unknown>, message: string) => {
    const merged = { ...bindings, ...(fields ?? {}) };
    base[level](hasChild ? (fields ?? {}) : merged, message);
    recorder.record(level, String(message), merged);
  };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child(childBindings) {
      const child = hasChild ? base.child!(childBindings) : base;
      return runLogger(child, recorder, { ...bindings, ...childBindings });
    },
  };
}

/**
 * Encodes a log line as JSON. Errors, BigInt values and repeated references become readable
 * stand-ins, and anything else JSON.stringify throws on becomes a placeholder, so writing a
 * log line does not throw into the handler.
 */
export function encodeLogData(
  level: Level,
  message: string,
  fields: Record<string, unknown>,
): string {
  const data: Record<string, unknown> = { level, message };
  if (Object.keys(fields).length > 0) data.fields = fields;
  let json: string;
  try {
    json = JSON.stringify(data, logReplacer());
  } catch {
    json = JSON.stringify({ level, message, fields: '[unserializable]' });
  }
  if (json.length <= MAX_LOG_DATA_LENGTH) return json;
  const cut =
    message.length > MAX_LOG_DATA_LENGTH / 2
      ? `${message.slice(0, MAX_LOG_DATA_LENGTH / 2)}...`
      : message;
  return JSON.stringify({ level, message: cut, truncated: true });
}

function logReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  const seen = new WeakSet<object>();
  return (_key, value) => {
    if (typeof value === 'bigint') return `${value}n`;
    if (value instanceof Error)
      return { name: value.name, message: value.message, stack: value.stack };
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[repeated reference]';
      seen.add(value);
    }
    return value;
  };
}
