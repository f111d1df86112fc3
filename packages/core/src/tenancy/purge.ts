/**
 * Purging deleted tenants from the workers: each worker runs a purge pass now and then, so a
 * deleted tenant's data goes once its retention has passed without any extra process.
 */
import { errorMessage } from '../internal/decode.js';
import type { Logger } from '../logger.js';
import type { Storage } from '../storage/contract.js';

/** How often one worker runs a purge pass, in ms. */
const PURGE_INTERVAL_MS = 60_000;
/** Runs deleted per storage call. */
const PURGE_BATCH = 500;
/** Maximum number of calls per pass, so a huge tenant is purged over several passes. */
const MAX_BATCHES = 20;

/** Runs purge passes for one worker, at most one per {@link PURGE_INTERVAL_MS}. */
export class TenantPurger {
  readonly #storage: Storage;
  readonly #logger: Logger;
  #lastPassAt = 0;

  constructor(storage: Storage, logger: Logger) {
    this.#storage = storage;
    this.#logger = logger;
  }

  /** Runs a purge pass when the last one is old enough. Never throws. */
  async maybePurge(): Promise<void> {
    const purge = this.#storage.purgeTenants?.bind(this.#storage);
    if (purge === undefined || Date.now() - this.#lastPassAt < PURGE_INTERVAL_MS) return;
    this.#lastPassAt = Date.now();
    try {
      for (let batch = 0; batch < MAX_BATCHES; batch++) {
        const result = await purge(PURGE_BATCH);
        for (const tenantId of result.tenantsDeleted) {
          this.#logger.info({ tenantId }, `Purged deleted tenant "${tenantId}" and its data`);
        }
        if (result.runsDeleted < PURGE_BATCH) return;
      }
    } catch (error) {
      this.#logger.warn(
        { err: error },
        `Failed to purge deleted tenants; the next pass retries: ${errorMessage(error)}`,
      );
    }
  }
}
