import { describe, expect, it } from 'vitest';
import { Batcher } from '../src/internal/batcher.js';
import { encodeLogData } from '../src/internal/run-logger.js';
import { TimerLoop } from '../src/internal/timer-loop.js';
import { Wakeup } from '../src/internal/wakeup.js';

describe('Batcher', () => {
  it('sends requests of one tick in one call', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher(async (requests: number[]) => {
      calls.push(requests);
      return requests.map((n) => n * 2);
    });
    const results = await Promise.all([1, 2, 3].map((n) => batcher.add(n)));
    expect(results).toEqual([2, 4, 6]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('splits batches at the maximum size', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher(
      async (requests: number[]) => {
        calls.push(requests);
        return requests;
      },
      { maxBatchSize: 2 },
    );
    await Promise.all([1, 2, 3].map((n) => batcher.add(n)));
    expect(calls).toEqual([[1, 2], [3]]);
  });

  it('sequential batches wait for the previous one', async () => {
    const order: string[] = [];
    let delay = 30;
    const batcher = new Batcher(
      async (requests: number[]) => {
        const wait = delay;
        delay = 0;
        order.push(`start ${requests}`);
        await new Promise((resolve) => setTimeout(resolve, wait));
        order.push(`end ${requests}`);
        return requests;
      },
      { sequential: true },
    );
    const first = batcher.add(1);
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.all([first, batcher.add(2)]);
    expect(order).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('rejects every request of a failed call', async () => {
    const batcher = new Batcher(async () => {
      throw new Error('down');
    });
    const results = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
  });

  it('rejects requests a short result leaves out', async () => {
    const batcher = new Batcher(async () => [true]);
    const [first, second] = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
    expect(first?.status).toBe('fulfilled');
    expect(second?.status).toBe('rejected');
  });

  it('drain waits for queued requests', async () => {
    let sent = 0;
    const batcher = new Batcher(async (requests: number[]) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      sent += requests.length;
      return requests;
    });
    void batcher.add(1);
    void batcher.add(2);
    await batcher.drain();
    expect(sent).toBe(2);
  });

  it('maxInFlight gathers requests behind a batch', async () => {
    const calls: number[][] = [];
    const gates: (() => void)[] = [];
    const batcher = new Batcher(
      async (requests: number[]) => {
        calls.push(requests);
        await new Promise<void>((resolve) => gates.push(resolve));
        return requests;
      },
      { maxInFlight: 1 },
    );
    const first = batcher.add(1);
    await new Promise((resolve) => setImmediate(resolve));
    const later = [2, 3, 4].map((n) => batcher.add(n));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toEqual([[1]]);

    gates.shift()?.();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual([[1], [2, 3, 4]]);
    gates.shift()?.();
    expect(await Promise.all(later)).toEqual([2, 3, 4]);
  });

  it('maxInFlight lets requests pass a slow batch', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher(
      async (requests: number[]) => {
        calls.push(requests);
        // The first call never returns, like a storage call on a dead connection.
        if (requests.includes(1)) return new Promise<number[]>(() => undefined);
        return requests;
      },
      { maxInFlight: 1, slowAfterMs: 30 },
    );
    void batcher.add(1);
    await new Promise((resolve) => setImmediate(resolve));
    const second = batcher.add(2);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(calls).toEqual([[1]]);
    expect(await second).toBe(2);
    expect(calls).toEqual([[1], [2]]);
  });

  it('drain sends requests held by maxInFlight', async () => {
    const results: Promise<number>[] = [];
    const batcher = new Batcher(
      async (requests: number[]) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return requests;
      },
      { maxInFlight: 1, maxBatchSize: 3 },
    );
    for (let n = 0; n < 14; n++) results.push(batcher.add(n));
    await batcher.drain();
    const settled = await Promise.allSettled(results);
    expect(settled.every((result) => result.status === 'fulfilled')).toBe(true);
  });
});

describe('Wakeup', () => {
  it('a notify before wait is kept', async () => {
    const wakeup = new Wakeup();
    wakeup.notify();
    const started = Date.now();
    await wakeup.wait(5_000);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('notify ends a wait early', async () => {
    const wakeup = new Wakeup();
    const started = Date.now();
    const waiting = wakeup.wait(5_000);
    setTimeout(() => wakeup.notify(), 10);
    await waiting;
    // Far below the 5 s timeout, so the notify ended the wait, not the timer.
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('kept notify ends only one wait', async () => {
    const wakeup = new Wakeup();
    wakeup.notify();
    await wakeup.wait(5_000);
    const started = Date.now();
    await wakeup.wait(50);
    // The kept notify was used up by the first wait, so the second one runs to its timeout.
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
  });

  it('wait ends at its timeout', async () => {
    const wakeup = new Wakeup();
    const started = Date.now();
    const outcome = await Promise.race([
      wakeup.wait(50).then(() => 'timeout'),
      new Promise((resolve) => setTimeout(() => resolve('stuck'), 5_000)),
    ]);
    expect(outcome).toBe('timeout');
    // Timers may fire up to a millisecond early in Node; a wait never ends long before.
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
  });
});

describe('TimerLoop', () => {
  it('never runs the task twice at once', async () => {
    let running = 0;
    let overlap = false;
    let runs = 0;
    const loop = new TimerLoop(async () => {
      running++;
      if (running > 1) overlap = true;
      await new Promise((resolve) => setTimeout(resolve, 15));
      runs++;
      running--;
    }, 1);
    loop.start(true);
    void loop.trigger();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await loop.stop();
    expect(overlap).toBe(false);
    expect(runs).toBeGreaterThan(1);
    const after = runs;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(runs).toBe(after);
  });
});

describe('encodeLogData', () => {
  it('keeps message and fields', () => {
    expect(JSON.parse(encodeLogData('info', 'hi', { n: 1 }))).toEqual({
      level: 'info',
      message: 'hi',
      fields: { n: 1 },
    });
  });

  it('turns errors, BigInt and cycles into readable values', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const data = JSON.parse(encodeLogData('error', 'x', { err: new Error('e'), id: 5n, cycle }));
    expect(data.fields.err).toMatchObject({ name: 'Error', message: 'e' });
    expect(data.fields.id).toBe('5n');
    expect(data.fields.cycle.self).toBe('[repeated reference]');
  });

  it('truncates very long lines', () => {
    const data = JSON.parse(encodeLogData('info', 'z'.repeat(50_000), {}));
    expect(data.truncated).toBe(true);
    expect(data.message.length).toBeLessThan(10_000);
  });
});
