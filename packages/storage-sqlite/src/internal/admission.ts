import type { NewRun } from '@zapjobs/core/storage';
import {
  QuotaExceededError,
  TenantDeletedError,
  TenantSuspendedError,
} from '@zapjobs/core/storage';
import { ADD_TO_COUNTER, COUNT_QUEUED } from '../sql/tenancy.js';
import type { Tx } from './connection.js';
import type { TenantRow } from './tenants.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * The tenancy side of one insert transaction: rejects runs of tenants that are not active,
 * gives runs of fair queues their fair key, and checks quotas once the runs are in. A quota
 * error thrown here rolls the whole transaction back, so nothing of the insert is stored.
 */
export class Admission {
  private readonly tenants = new Map<string, TenantRow | null>();
  private readonly fairModes = new Map<string, string | null>();
  private readonly createdByTenant = new Map<string, number>();

  constructor(private readonly tx: Tx) {}

  /** Throws TenantSuspendedError or TenantDeletedError for a run of such a tenant. */
  checkStatus(run: NewRun): void {
    if (run.tenantId === undefined) return;
    const status = this.tenant(run.tenantId)?.status;
    if (status === 'suspended') throw new TenantSuspendedError(run.tenantId);
    if (status === 'deleted') throw new TenantDeletedError(run.tenantId);
  }

  /** Records a run the insert created: sets its fair key and counts it for its tenant. */
  recordCreated(run: NewRun): void {
    const by = this.fairMode(run.queue);
    if (by !== null) {
      const key = (by === 'tenant' ? run.tenantId : run.partitionKey) ?? '';
      this.tx.conn.stmt('UPDATE zapjobs_runs SET fair_key = ? WHERE id = ?').run(key, run.id);
    }
    if (run.tenantId !== undefined) {
      this.createdByTenant.set(run.tenantId, (this.createdByTenant.get(run.tenantId) ?? 0) + 1);
    }
  }

  /** Throws QuotaExceededError when the created runs took a tenant over one of its quotas. */
  checkQuotas(): void {
    for (const [tenantId, created] of this.createdByTenant) {
      const tenant = this.tenant(tenantId);
      if (tenant === null) continue;
      this.checkWindow(tenant, 'runsPerHour', tenant.runs_per_hour, HOUR_MS, created);
      this.checkWindow(tenant, 'runsPerDay', tenant.runs_per_day, DAY_MS, created);
      if (tenant.max_queued_runs !== null) {
        const queued = this.tx.conn.stmt(COUNT_QUEUED).pluck().get(tenantId) as number;
        if (queued > tenant.max_queued_runs) {
          throw new QuotaExceededError({
            tenantId,
            quota: 'maxQueuedRuns',
            limit: tenant.max_queued_runs,
            resetAt: null,
          });
        }
      }
    }
  }

  private checkWindow(
    tenant: TenantRow,
    quota: 'runsPerHour' | 'runsPerDay',
    limit: number | null,
    windowMs: number,
    created: number,
  ): void {
    if (limit === null) return;
    const windowStart = Math.floor(this.tx.now / windowMs) * windowMs;
    const count = this.tx.conn
      .stmt(ADD_TO_COUNTER)
      .pluck()
      .get(tenant.id, windowMs, windowStart, created) as number;
    if (count > limit) {
      throw new QuotaExceededError({
        tenantId: tenant.id,
        quota,
        limit,
        resetAt: windowStart + windowMs,
      });
    }
  }

  private tenant(tenantId: string): TenantRow | null {
    let tenant = this.tenants.get(tenantId);
    if (tenant === undefined) {
      tenant =
        (this.tx.conn.stmt('SELECT * FROM zapjobs_tenants WHERE id = ?').get(tenantId) as
          | TenantRow
          | undefined) ?? null;
      this.tenants.set(tenantId, tenant);
    }
    return tenant;
  }

  private fairMode(queue: string): string | null {
    let by = this.fairModes.get(queue);
    if (by === undefined) {
      by =
        (this.tx.conn
          .stmt('SELECT by FROM zapjobs_fair_queues WHERE queue = ?')
          .pluck()
          .get(queue) as string | undefined) ?? null;
      this.fairModes.set(queue, by);
    }
    return by;
  }
}
