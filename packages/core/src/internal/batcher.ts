/**
 * Collects requests made within one turn of the event loop and sends them to the storage in
 * one call, so runs that finish together cost one round trip.
 */
export class Batcher<Request, Result> {
  readonly #send: (requests: Request[]) => Promise<Result[]>;
  readonly #maxBatchSize: number;
  #queue: {
    request: Request;
    resolve: (result: Result) => void;
    reject: (error: unknown) => void;
  }[] = [];
  #scheduled = false;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #sequential: boolean;
  readonly #maxInFlight: number;
  readonly #slowAfterMs: number | undefined;
  /** Batches in flight that count against `maxInFlight`: sent, and not yet slow. */
  #counted = 0;
  #previous: Promise<void> = Promise.resolve();

  /**
   * With `sequential`, a batch is sent only after the previous one settled, so requests reach
   * the storage in the order they were added (for events, whose ids record that order).
   * With `maxInFlight`, at most that many batches are sent at once. Requests added meanwhile
   * wait and leave together once a batch returns, so a busy storage gets fewer, larger batches.
   * With `slowAfterMs`, a batch in flight for longer stops counting against `maxInFlight`, so
   * one hung storage call does not hold back every later request.
   */
  constructor(
    send: (requests: Request[]) => Promise<Result[]>,
    options: {
      maxBatchSize?: number;
      sequential?: boolean;
      maxInFlight?: number;
      slowAfterMs?: number;
    } = {},
  ) {
    this.#send = send;
    this.#maxBatchSize = options.maxBatchSize ?? 500;
    this.#sequential = options.sequential ?? false;
    this.#maxInFlight = options.maxInFlight ?? Number.POSITIVE_INFINITY;
    this.#slowAfterMs = options.slowAfterMs;
  }

  /** Queues a request; resolves with its result once the batch it joined was sent. */
  add(request: Request): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Resolves when every request queued so far has been sent. */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#inFlight.size > 0) {
      if (this.#queue.length > 0 && !this.#scheduled) this.#flush();
      await Promise.allSettled([...this.#inFlight]);
      if (this.#queue.length > 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0 && this.#counted < this.#maxInFlight) {
      const batch = this.#queue.splice(0, this.#maxBatchSize);
      const sending = this.#sequential
        ? this.#previous.then(() => this.#sendBatch(batch))
        : this.#sendBatch(batch);
      this.#previous = sending;
      this.#inFlight.add(sending);
      this.#counted++;
      let counted = true;
      const uncount = () => {
        if (!counted) return;
        counted = false;
        this.#counted--;
        if (this.#queue.length > 0 && !this.#scheduled) this.#flush();
      };
      const slowTimer =
        this.#slowAfterMs === undefined ? null : setTimeout(uncount, this.#slowAfterMs);
      slowTimer?.unref();
      void sending.finally(() => {
        if (slowTimer !== null) clearTimeout(slowTimer);
        this.#inFlight.delete(sending);
        uncount();
      });
    }
  }

  async #sendBatch(
    batch: {
      request: Request;
      resolve: (result: Result) => void;
      reject: (error: unknown) => void;
    }[],
  ): Promise<void> {
    try {
      const results = await this.#send(batch.map((item) => item.request));
      batch.forEach((item, index) => {
        if (index < results.length) {
          item.resolve(results[index] as Result);
        } else {
          item.reject(
            new Error(
              `Storage returned ${results.length} result(s) for a batch of ${batch.length}; ` +
                'the backend breaks the storage contract.',
            ),
          );
        }
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }
}
