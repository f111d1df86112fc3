import { describe, expect, it } from 'vitest';
import {
  type ConsoleLike,
  childLogger,
  consoleLogger,
  fromConsole,
  type Logger,
  silentLogger,
  toLogger,
} from '../src/logger.js';
import { CapturingLogger } from '../src/testing/runtime-harness.js';

function fakeConsole() {
  const lines: [string, string][] = [];
  const target: ConsoleLike = {
    debug: (line: unknown) => void lines.push(['debug', String(line)]),
    info: (line: unknown) => void lines.push(['info', String(line)]),
    warn: (line: unknown) => void lines.push(['warn', String(line)]),
    error: (line: unknown) => void lines.push(['error', String(line)]),
    log: (line: unknown) => void lines.push(['log', String(line)]),
  };
  return { target, lines };
}

describe('fromConsole', () => {
  it('formats message and fields on one line', () => {
    const { target, lines } = fakeConsole();
    fromConsole(target).info({ runId: 'r1', attempt: 2, note: 'two words' }, 'Run started');
    expect(lines).toEqual([
      ['info', '[zapjobs] INFO Run started runId=r1 attempt=2 note="two words"'],
    ]);
  });

  it('drops lines below the level', () => {
    const { target, lines } = fakeConsole();
    const logger = fromConsole(target, 'warn');
    logger.debug({}, 'd');
    logger.info({}, 'i');
    logger.warn({}, 'w');
    logger.error({}, 'e');
    expect(lines.map(([level]) => level)).toEqual(['warn', 'error']);
  });

  it('appends the stack of an err field', () => {
    const { target, lines } = fakeConsole();
    const error = new Error('boom');
    fromConsole(target).error({ err: error }, 'Failed');
    expect(lines[0]?.[1]).toBe(`[zapjobs] ERROR Failed\n${error.stack}`);
  });

  it('children carry their bindings', () => {
    const { target, lines } = fakeConsole();
    const child = fromConsole(target).child?.({ workerId: 'w1' }).child?.({ runId: 'r1' });
    child?.warn({ extra: true }, 'Retrying');
    expect(lines).toEqual([['warn', '[zapjobs] WARN Retrying workerId=w1 runId=r1 extra=true']]);
  });

  it('rejects an unknown level', () => {
    expect(() => fromConsole(fakeConsole().target, 'loud' as never)).toThrow(
      'Invalid log level "loud". Expected one of debug, info, warn, error, silent.',
    );
  });

  it('consoleLogger writes to the global console', () => {
    expect(typeof consoleLogger('silent').info).toBe('function');
  });
});

describe('toLogger', () => {
  it('adapts a console-like object', () => {
    const { target, lines } = fakeConsole();
    toLogger(target).info({ a: 1 }, 'hello');
    expect(lines).toEqual([['info', '[zapjobs] INFO hello a=1']]);
  });

  it('adapts the global console', () => {
    expect(toLogger(console)).not.toBe(console);
  });

  it('keeps a pino-shaped logger as it is', () => {
    const pinoLike = new CapturingLogger();
    expect(toLogger(pinoLike)).toBe(pinoLike);
  });

  it('keeps a logger without log or child', () => {
    const minimal: Logger = { debug() {}, info() {}, warn() {}, error() {} };
    expect(toLogger(minimal)).toBe(minimal);
  });
});

describe('childLogger', () => {
  it('uses child when the logger has it', () => {
    const base = new CapturingLogger();
    childLogger(base, { workerId: 'w' }).info({ runId: 'r' }, 'x');
    expect(base.lines[0]?.fields).toEqual({ workerId: 'w', runId: 'r' });
  });

  it('merges bindings when the logger has no child', () => {
    const lines: unknown[] = [];
    const plain: Logger = {
      debug() {},
      info: (fields, message) => void lines.push([fields, message]),
      warn() {},
      error() {},
    };
    childLogger(childLogger(plain, { workerId: 'w' }), { runId: 'r' }).info({ n: 1 }, 'm');
    expect(lines).toEqual([[{ workerId: 'w', runId: 'r', n: 1 }, 'm']]);
  });

  it('silentLogger drops everything', () => {
    expect(() => silentLogger.child?.({}).error({}, 'x')).not.toThrow();
  });
});
