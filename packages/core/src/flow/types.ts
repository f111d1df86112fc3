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

/** The run that a claim admitted past a limit's normal cap, and the limit's state then. */
interface LimitBurstFields {
  /** The limit as the claim applied it. */
  limit: Limit;
  /** The run's partition key, for a `partitionOf` limit; null otherwise. */
  partitionKey: string | null;
  runId: string;
  job: string;
  queue: string;
  /** The run's tenant, or null. */
  tenantId: string | null;
  /** The worker of this process that claimed the run. */
  workerId: string;
  /** Always true: the run was admitted only thanks to `burstMultiplier`. */
  bursting: true;
}

/** A concurrency limit running more runs than its `concurrency`. */
export interface ConcurrencyBurst extends LimitBurstFields, LimitUsage {
  kind: 'concurrency';
  bursting: true;
}

/** A rate limit admitting more claims in its window than `rate.limit`. */
export interface RateBurst extends LimitBurstFields {
  kind: 'rate';
  /** Claims inside the rate window once this run was claimed, this run included. */
  claims: number;
  /** Maximum claims per window while bursting: `floor(rate.limit * burstMultiplier)`. */
  burstRate: number;
}

/** Payload of `limit.burst`. Its `kind` names the cap of the limit that the run went past. */
export type LimitBurst = ConcurrencyBurst | RateBurst;

/** Events of limits, merged into `ZapJobsEvents`. */
export interface LimitEvents {
  /**
   * A worker of this process claimed a run that a limit admitted only thanks to its
   * `burstMultiplier`. One event per limit and cap (concurrency or rate) that the run went
   * past: a run over both caps of one limit, or over two limits, gives several events.
   * A concurrency event carries the fields of {@link LimitUsage}, with `running` counted right
   * after the claim, this run included.
   */
  'limit.burst': LimitBurst;
}
