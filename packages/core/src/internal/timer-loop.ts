/**
 * Runs an async task every `intervalMs`, never two at once: the next run is timed from the end
 * of the previous one. `stop` cancels the timer and waits for a run in progress.
 */
export class TimerLoop {
  readonly #task: () => Promise<void>;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = true;

  constructor(task: () => Promise<void>, intervalMs: number) {
    this.#task = task;
    this.#intervalMs = intervalMs;
  }

  /** Starts the loop; with `immediately`, the first run starts now instead of after one interval. */
  start(immediately: boolean): void {
    this.#stopped = false;
    if (immediately) this.#tick();
    else this.#schedule();
  }

  /** Runs the task now unless a run is in progress, and times the next run from its end. */
  trigger(): Promise<void> {
    if (this.#running !== null) return this.#running;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#tick();
    return this.#running ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#tick();
    }, this.#intervalMs);
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#running = this.#task()
      .catch(() => undefined)
      .finally(() => {
        this.#running = null;
        this.#schedule();
      });
  }
}
