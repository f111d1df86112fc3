import type { Logger } from '@zapjobs/core';
import type { ResolvedRetention } from './options.js';

/**
 * The automatic pruning step: every `intervalMs` it deletes finished runs older than the
 * retention ages, in batches, until none is left.
 */
export class Pruner {
  readonly #retention: ResolvedRetention | null;
  readonly #purge: (args: string[]) => Promise<number>;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #stopped = false;

  /** `purge` runs purge.lua with the given arguments and returns how many runs it deleted. */
  constructor(
    retention: ResolvedRetention | null,
    purge: (args: string[]) => Promise<number>,
    logger: Logger,
  ) {
    this.#retention = retention;
    this.#purge = purge;
    this.#logger = logger;
  }

  start(): void {
    const retention = this.#retention;
    if (!retention || retention.ages.length === 0 || this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => void this.runOnce(), retention.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Runs one step now and returns how many runs it deleted; 0 while another step runs. */
  async runOnce(): Promise<number> {
    const retention = this.#retention;
    if (!retention || retention.ages.length === 0 || this.#running) return 0;
    this.#running = true;
    let total = 0;
    try {
      const args = [String(retention.batchSize), 'age'];
      for (const [state, ageMs] of retention.ages) args.push(state, String(ageMs));
      while (!this.#stopped) {
        const deleted = await this.#purge(args);
        total += deleted;
        if (deleted < retention.batchSize) break;
      }
    } catch (error) {
      if (!this.#stopped) {
        this.#logger.warn({ error }, 'Pruning finished runs failed; the next step retries');
      }
    } finally {
      this.#running = false;
    }
    return total;
  }
}
