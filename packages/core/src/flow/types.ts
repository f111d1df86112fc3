/**
 * Public shapes of limits and their events.
 */

/** Target of a limit: exactly one of `queue`, `job` and `partitionOf`. */
export type LimitTarget = { queue: string } | { job: string } | { partitionOf: string };

/** A limit to set with `zap.limits.set`. */
export type LimitOptions = LimitTarget & {
  /** Maximum runs `running` at once, an integer from 0 (claim none) to 1,000,000. */
  concurrency?: number;
  /**
   * Maximum claims per sliding window: `limit` (integer, 0 to 1,000,000,000) per `periodMs`
   * (integer milliseconds, 1 to 2,147,483,647).
   */
  rate?: { limit: number; periodMs: number };
  /**
   * Multiple of `concurrency` and `rate.limit` that claims may reach while the claiming worker
   * has no other claimable run waiting, from 1 to 100. Default 1 (no bursting).
   */
  burstMultiplier?: number;
};

/** A stored limit, as `zap.limits.list` returns it. */
export type Limit = LimitOptions & { burstMultiplier: number };

/** Current use of a concurrency limit. */
export interface LimitUsage {
  limit: Limit;
  /** The partition key, for a `partitionOf` limit; null otherwise. */
  partitionKey: string | null;
  /** Runs running now under this limit. */
  running: number;
  /** Maximum runs at once while bursting: `floor(concurrency * burstMultiplier)`. */
  burstConcurrency: number;
  /** True while more runs are running than `concurrency` allows, thanks to bursting. */
  bursting: boolean;
}

/** Events of limits, merged into `ZapJobsEvents`. */
export interface LimitEvents {
  /**
   * A concurrency limit with `burstMultiplier` ran more runs than its `concurrency`, after a
   * worker of this process started a run under it.
   */
  'limit.burst': LimitUsage;
}
