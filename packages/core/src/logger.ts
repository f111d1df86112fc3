/**
 * The logger ZapJobs writes to. A pino logger fits as it is; so does `console`, which
 * {@link toLogger} detects and adapts.
 *
 * Calls pass structured fields first and the message second, as pino does. An error travels
 * in the `err` field, which pino serializes with its standard error serializer.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  child?(bindings: Record<string, unknown>): Logger;
}

/** Severity of a log line, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVEL_RANK: Record<LogLevel, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
  silent: 99,
};
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** The subset of the `console` API that {@link fromConsole} writes to. */
export interface ConsoleLike {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  log(...args: unknown[]): void;
}

/** A logger that drops every line. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/**
 * Adapts a console-like object: each line becomes `[zapjobs] LEVEL message key=value ...`,
 * written with the console method of the same level. Lines below `level` are dropped.
 */
export function fromConsole(target: ConsoleLike, level: LogLevel = 'info'): Logger {
  if (!LOG_LEVELS.includes(level)) {
    throw new TypeError(
      `Invalid log level ${JSON.stringify(level)}. Expected one of ${LOG_LEVELS.join(', ')}.`,
    );
  }
  return consoleAdapter(target, LEVEL_RANK[level], {});
}

/** Creates a logger that writes to the global `console` and drops lines below `level` (default info). */
export function consoleLogger(level: LogLevel = 'info'): Logger {
  return fromConsole(console, level);
}

function consoleAdapter(
  target: ConsoleLike,
  minRank: number,
  bindings: Record<string, unknown>,
): Logger {
  const write = (level: Exclude<LogLevel, 'silent'>) => {
    return (fields: Record<string, unknown>, message: string): void => {
      if (LEVEL_RANK[level] < minRank) return;
      const line = formatLine(level, message, { ...bindings, ...fields });
      target[level](line);
    };
  };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child(childBindings) {
      return consoleAdapter(target, minRank, { ...bindings, ...childBindings });
    },
  };
}

function formatLine(level: string, message: string, fields: Record<string, unknown>): string {
  let line = `[zapjobs] ${level.toUpperCase()} ${message}`;
  let stack: string | undefined;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (value instanceof Error) {
      stack = value.stack;
      continue;
    }
    line += ` ${key}=${formatFieldValue(value)}`;
  }
  return stack === undefined ? line : `${line}\n${stack}`;
}

function formatFieldValue(value: unknown): string {
  if (typeof value === 'string') return /^[\w./:@-]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Turns what a user passed as `logger` into a {@link Logger}: undefined becomes
 * `consoleLogger('info')`, a console-like object (one with `log` and without `child`) is
 * adapted with {@link fromConsole}, and a pino-shaped logger is used as it is.
 */
export function toLogger(value: Logger | ConsoleLike | undefined): Logger {
  if (value === undefined) return consoleLogger('info');
  if (isConsoleLike(value)) return fromConsole(value);
  return value;
}

function isConsoleLike(value: Logger | ConsoleLike): value is ConsoleLike {
  if (value === globalThis.console) return true;
  const candidate = value as unknown as Record<string, unknown>;
  return typeof candidate.log === 'function' && typeof candidate.child !== 'function';
}

/** Returns a logger that adds `bindings` to every line, through `child` when the logger has it. */
export function childLogger(logger: Logger, bindings: Record<string, unknown>): Logger {
  if (typeof logger.child === 'function') return logger.child(bindings);
  const merge = (fields: Record<string, unknown>) => ({ ...bindings, ...fields });
  return {
    debug: (fields, message) => logger.debug(merge(fields), message),
    info: (fields, message) => logger.info(merge(fields), message),
    warn: (fields, message) => logger.warn(merge(fields), message),
    error: (fields, message) => logger.error(merge(fields), message),
    child: (more) => childLogger(logger, { ...bindings, ...more }),
  };
}
