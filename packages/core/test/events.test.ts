import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/events.js';
import { CapturingLogger } from '../src/testing/runtime-harness.js';

describe('EventBus', () => {
  it('calls listeners in registration order', () => {
    const bus = new EventBus(new CapturingLogger());
    const calls: string[] = [];
    bus.on('job.cancelled', (event) => void calls.push(`a:${event.runId}`));
    bus.on('job.cancelled', (event) => void calls.push(`b:${event.runId}`));
    bus.emit('job.cancelled', { runId: 'r1', tenantId: null });
    expect(calls).toEqual(['a:r1', 'b:r1']);
  });

  it('unsubscribe removes only that listener', () => {
    const bus = new EventBus(new CapturingLogger());
    const calls: string[] = [];
    const off = bus.on('job.cancelled', () => void calls.push('a'));
    bus.on('job.cancelled', () => void calls.push('b'));
    off();
    bus.emit('job.cancelled', { runId: 'r', tenantId: null });
    expect(calls).toEqual(['b']);
    expect(bus.has('job.cancelled')).toBe(true);
  });

  it('a throwing listener is logged and the others still run', () => {
    const logger = new CapturingLogger();
    const bus = new EventBus(logger);
    const calls: string[] = [];
    bus.on('job.cancelled', () => {
      throw new Error('broken listener');
    });
    bus.on('job.cancelled', () => void calls.push('after'));
    expect(() => bus.emit('job.cancelled', { runId: 'r', tenantId: null })).not.toThrow();
    expect(calls).toEqual(['after']);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatchObject({
      level: 'error',
      message: 'Listener for event "job.cancelled" threw and was ignored: broken listener',
      fields: { event: 'job.cancelled' },
    });
  });

  it('a rejecting async listener is logged', async () => {
    const logger = new CapturingLogger();
    const bus = new EventBus(logger);
    bus.on('job.cancelled', async () => {
      throw new Error('async failure');
    });
    bus.emit('job.cancelled', { runId: 'r', tenantId: null });
    await new Promise((resolve) => setImmediate(resolve));
    expect(logger.messages('error')).toEqual([
      'Listener for event "job.cancelled" threw and was ignored: async failure',
    ]);
  });

  it('a throwing logger does not break emit', () => {
    const bus = new EventBus({
      debug() {},
      info() {},
      warn() {},
      error() {
        throw new Error('logger down');
      },
    });
    bus.on('job.cancelled', () => {
      throw new Error('listener');
    });
    expect(() => bus.emit('job.cancelled', { runId: 'r', tenantId: null })).not.toThrow();
  });

  it('a listener added during emit waits for the next event', () => {
    const bus = new EventBus(new CapturingLogger());
    const calls: string[] = [];
    bus.on('job.cancelled', () => {
      calls.push('first');
      bus.on('job.cancelled', () => void calls.push('late'));
    });
    bus.emit('job.cancelled', { runId: 'r', tenantId: null });
    expect(calls).toEqual(['first']);
  });

  it('rejects a listener that is not a function', () => {
    const bus = new EventBus(new CapturingLogger());
    expect(() => bus.on('job.cancelled', 'nope' as never)).toThrow(
      'Listener for "job.cancelled" must be a function, got string.',
    );
  });
});
