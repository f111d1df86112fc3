/**
 * Runtime conformance of multi-tenancy: the tenant-scoped client's isolation, tenant
 * propagation into follow-up runs, events, suspension and deletion, on a real backend.
 */
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import type { ZapJobs } from '../client.js';
import { InvalidOptionError, RunNotFoundError } from '../errors.js';
import { type AnyJob, defineJob } from '../job.js';
import { runWithTenant } from '../tenancy/context.js';
import { QuotaExceededError, TenantSuspendedError } from '../tenancy/errors.js';
import type { ConformanceOptions } from './options.js';
import {
  FAST_WORKER,
  recordEvents,
  sleep,
  useRuntimeHarness,
  waitFor,
  waitForState,
} from './runtime-harness.js';

const noop = defineJob({
  name: 'conformance.tenant-noop',
  input: Type.Object({ n: Type.Integer() }),
  output: Type.Null(),
  handler: async () => null,
});

const fails = defineJob({
  name: 'conformance.tenant-fails',
  input: Type.Object({}),
  output: Type.Null(),
  defaults: { attempts: 1 },
  handler: async () => {
    throw new Error('always fails');
  },
});

/** Enqueues a `noop` follow-up without naming a tenant, then reports the handler's tenant. */
const parent = defineJob({
  name: 'conformance.tenant-parent',
  input: Type.Object({}),
  output: Type.Object({ childId: Type.String(), seen: Type.Union([Type.String(), Type.Null()]) }),
  handler: async (_input, ctx) => {
    const zap = (ctx as unknown as { zap: ZapJobs<AnyJob> }).zap;
    const { runId } = await zap.enqueue(noop, { n: 1 });
    return { childId: runId, seen: ctx.tenantId };
  },
});

const jobs = [noop, fails, parent];

async function expectRejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected the call to be rejected, but it resolved.');
}

export function describeRuntimeTenants(options: ConformanceOptions): void {
  describe(`${options.name} runtime: tenants`, () => {
    const harness = useRuntimeHarness(options);

    it('a tenant client cannot reach another tenant', async () => {
      const { zap } = await harness.client({ jobs });
      const acme = zap.forTenant('acme');
      const globex = zap.forTenant('globex');
      const { runId } = await acme.enqueue(fails, {});
      const mine = await globex.enqueue(noop, { n: 1 });
      await zap.createWorker(FAST_WORKER).start();
      await waitForState(zap, runId, ['failed']);
      await waitForState(zap, mine.runId, ['completed']);

      // A guessed id of another tenant's run behaves exactly like an unknown id.
      expect(await globex.getRun(runId)).toBeNull();
      expect(await expectRejection(globex.cancel(runId))).toBeInstanceOf(RunNotFoundError);
      expect(await globex.retryRuns([runId])).toBe(0);
      expect((await zap.getRun(runId))?.state).toBe('failed');
      expect((await globex.listRuns()).runs.map((run) => run.id)).toEqual([mine.runId]);
      expect((await globex.countRuns()).failed).toBe(0);
      expect((await globex.listEvents({ runId })).events).toEqual([]);
      const own = await globex.listEvents({ runId: mine.runId });
      expect(own.events.map((event) => event.type)).toEqual(['enqueued', 'started', 'completed']);

      // The owner sees and manages its run.
      expect((await acme.getRun(runId))?.tenantId).toBe('acme');
      expect(await acme.retryRuns([runId])).toBe(1);
    });

    it('keys and parents stay within a tenant', async () => {
      const { zap } = await harness.client({ jobs });
      const acme = zap.forTenant('acme');
      const globex = zap.forTenant('globex');

      // Equal idempotency and unique keys of two tenants create two runs; neither replaces the
      // other's input.
      const first = await acme.enqueue(noop, { n: 1 }, { idempotencyKey: 'invoice-7' });
      const second = await globex.enqueue(noop, { n: 2 }, { idempotencyKey: 'invoice-7' });
      expect(first.created).toBe(true);
      expect(second.created).toBe(true);
      expect(second.runId).not.toBe(first.runId);
      expect((await acme.enqueue(noop, { n: 3 }, { idempotencyKey: 'invoice-7' })).runId).toBe(
        first.runId,
      );
      const unique = { key: 'nightly', mode: 'debounce' as const, periodMs: 60_000 };
      const pending = await acme.enqueue(noop, { n: 4 }, { unique });
      const other = await globex.enqueue(noop, { n: 5 }, { unique });
      expect(other.runId).not.toBe(pending.runId);
      expect(other.replaced).toBe(false);
      expect((await acme.getRun(pending.runId))?.input).toEqual({ n: 4 });

      // Another tenant's run as a parent is rejected like an unknown id, and nothing is stored.
      const foreign = await zap.enqueue(noop, { n: 6 }, { tenantId: 'globex' });
      const unknown = '01900000-0000-7000-8000-0000000000ff';
      for (const runId of [foreign.runId, unknown]) {
        const error = await expectRejection(
          acme.enqueue(noop, { n: 7 }, { dependsOn: [{ runId }] }),
        );
        expect(error).toBeInstanceOf(RunNotFoundError);
        expect((error as Error).message).toBe(new RunNotFoundError(runId).message);
        const waited = await expectRejection(
          acme.enqueueAndWait(noop, { n: 8 }, { dependsOn: [{ runId, passOutput: false }] }),
        );
        expect(waited).toBeInstanceOf(RunNotFoundError);
      }
      const many = await expectRejection(
        acme.enqueueMany([
          { job: noop, input: { n: 9 } },
          { job: noop, input: { n: 10 }, options: { dependsOn: [{ runId: foreign.runId }] } },
        ]),
      );
      expect(many).toBeInstanceOf(RunNotFoundError);
      expect((await acme.countRuns()).waiting).toBe(0);
      expect((await acme.listRuns()).runs).toHaveLength(2);

      // Its own run is a valid parent.
      const child = await acme.enqueue(noop, { n: 11 }, { dependsOn: [{ runId: first.runId }] });
      expect((await acme.getRun(child.runId))?.state).toBe('waiting');
    });

    it('a tenant client rejects another tenantId', async () => {
      const { zap } = await harness.client({ jobs });
      const acme = zap.forTenant('acme');
      const options = { tenantId: 'globex' };
      const error = await expectRejection(acme.enqueue(noop, { n: 1 }, options));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(await expectRejection(acme.listRuns(options))).toBeInstanceOf(InvalidOptionError);
      expect(await expectRejection(acme.listEvents(options))).toBeInstanceOf(InvalidOptionError);
      for (const bad of ['', 'a b', 'x'.repeat(129), 'semi;colon', "quote'", 'ünï']) {
        expect(() => zap.forTenant(bad)).toThrow(InvalidOptionError);
        await expect(zap.enqueue(noop, { n: 1 }, { tenantId: bad })).rejects.toThrow(
          InvalidOptionError,
        );
      }
      expect(zap.forTenant('A-z.0_9:x').tenantId).toBe('A-z.0_9:x');
    });

    it('follow-up runs inherit the tenant of their handler', async () => {
      const { zap } = await harness.client({
        jobs,
        plugins: [{ name: 'zap', setup: (api) => api.extendContext(() => ({ zap: api.client })) }],
      });
      const tenantRun = await zap.forTenant('acme').enqueue(parent, {});
      // Started inside another tenant's scope: the handler of a run without tenant has none.
      const plainRun = await zap.enqueue(parent, {});
      await runWithTenant('outer', () => zap.createWorker(FAST_WORKER).start());

      const fromTenant = await waitForState(zap, tenantRun.runId, ['completed']);
      const output = fromTenant.output as { childId: string; seen: string | null };
      expect(output.seen).toBe('acme');
      expect((await zap.getRun(output.childId))?.tenantId).toBe('acme');

      const fromPlain = await waitForState(zap, plainRun.runId, ['completed']);
      const plainOutput = fromPlain.output as { childId: string; seen: string | null };
      expect(plainOutput.seen).toBeNull();
      expect((await zap.getRun(plainOutput.childId))?.tenantId).toBeNull();
    });

    it('events carry the tenant id', async () => {
      const { zap } = await harness.client({ jobs });
      const events = recordEvents(zap, ['job.enqueued', 'job.started', 'job.completed']);
      const { runId } = await zap.forTenant('acme').enqueue(noop, { n: 1 });
      await zap.createWorker(FAST_WORKER).start();
      await waitFor('three events', () => events.length >= 3);
      for (const { event } of events) {
        expect(event.runId).toBe(runId);
        expect(event.tenantId).toBe('acme');
      }
      const stored = await zap.listEvents({ runId, tenantId: 'acme' });
      expect(stored.events.every((event) => event.tenantId === 'acme')).toBe(true);
    });

    it('a suspended tenant waits and a resumed one runs', async () => {
      const { zap } = await harness.client({ jobs });
      const acme = zap.forTenant('acme');
      const queued = await acme.enqueue(noop, { n: 1 });
      await zap.tenants.suspend('acme');
      const error = await expectRejection(acme.enqueue(noop, { n: 2 }));
      expect(error).toBeInstanceOf(TenantSuspendedError);
      expect((error as Error).message).toContain('"acme" is suspended');

      const other = await zap.enqueue(noop, { n: 3 });
      await zap.createWorker(FAST_WORKER).start();
      await waitForState(zap, other.runId, ['completed']);
      await sleep(200);
      expect((await zap.getRun(queued.runId))?.state).toBe('available');

      await zap.tenants.resume('acme');
      await waitForState(zap, queued.runId, ['completed']);
    });

    it('quota errors reach the caller unchanged', async () => {
      const { zap } = await harness.client({ jobs });
      await zap.tenants.upsert('acme', { quotas: { runsPerDay: 1 } });
      const acme = zap.forTenant('acme');
      await acme.enqueue(noop, { n: 1 });
      const error = await expectRejection(acme.enqueue(noop, { n: 2 }));
      expect(error).toBeInstanceOf(QuotaExceededError);
      expect((error as QuotaExceededError).quota).toBe('runsPerDay');
      expect((error as Error).message).toMatch(/quota runsPerDay .* resets at \d{4}-/);
      await zap.tenants.upsert('acme', { quotas: { runsPerDay: null } });
      await acme.enqueue(noop, { n: 3 });
    });

    it('a deleted tenant is purged after its retention', async () => {
      const { zap } = await harness.client({ jobs });
      const { runId } = await zap.forTenant('gone').enqueue(noop, { n: 1 });
      const other = await zap.forTenant('kept').enqueue(noop, { n: 1 });
      const deleted = await zap.tenants.delete('gone', { retentionMs: 0 });
      expect(deleted.status).toBe('deleted');
      await waitFor(
        'the retention to pass',
        async () => (await zap.storage.now()) > deleted.purgeAt!.getTime(),
      );
      expect(await zap.tenants.purgeDeleted()).toEqual({
        runsDeleted: 1,
        tenantsDeleted: ['gone'],
      });
      expect(await zap.getRun(runId)).toBeNull();
      expect(await zap.tenants.get('gone')).toBeNull();
      expect(await zap.getRun(other.runId)).not.toBeNull();
    });
  });
}
