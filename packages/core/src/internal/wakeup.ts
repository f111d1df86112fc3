/**
 * A resettable wake-up for a loop that sleeps: `wait(ms)` resolves after `ms` or at the next
 * `notify()`. A notify that comes while no wait is pending is kept, so the next wait returns at
 * once and no wake-up is lost between a check and the wait.
 */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;

  notify(): void {
    const resolve = this.#resolve;
    if (resolve === null) {
      this.#pending = true;
      return;
    }
    this.#settle();
    resolve();
  }

  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.#resolve = resolve;
      this.#timer = setTimeout(
        () => {
          this.#settle();
          resolve();
        },
        Math.max(0, ms),
      );
    });
  }

  #settle(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#resolve = null;
    this.#pending = false;
  }
}
