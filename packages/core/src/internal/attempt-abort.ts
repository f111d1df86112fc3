/**
 * Abort state of one attempt. The `AbortSignal` passed to the handler is created only when the
 * handler or a plugin reads `ctx.signal`, because an AbortController with its listeners costs
 * more than a short handler. The worker's own wait for an abort goes through
 * {@link AttemptAbort.onAbort}, which needs no signal.
 */
export class AttemptAbort {
  #controller: AbortController | null = null;
  #aborted = false;
  #reason: unknown = undefined;
  #listener: ((reason: unknown) => void) | null = null;

  /** True once the attempt was aborted. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** The abort reason, or undefined while the attempt is not aborted. */
  get reason(): unknown {
    return this.#reason;
  }

  /** The signal passed to the handler. It is already aborted when the attempt is. */
  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Aborts the attempt. Later calls keep the first reason. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const listener = this.#listener;
    this.#listener = null;
    listener?.(reason);
  }

  /**
   * Sets the listener called with the reason when the attempt is aborted, or at once when it
   * already is. A new listener replaces the previous one, and `null` removes it.
   */
  onAbort(listener: ((reason: unknown) => void) | null): void {
    if (listener !== null && this.#aborted) {
      listener(this.#reason);
      return;
    }
    this.#listener = listener;
  }
}
