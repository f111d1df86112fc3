/**
 * The finalizer of a batch: an internal job whose run waits for every member of the batch
 * (condition `always`) and then enqueues the callbacks that apply. Its run id is the batch id.
 *
 * Each callback run was built and checked when the batch was created and carries a unique key
 * that is never released, so a finalizer that runs twice (a retry after a crash) inserts each
 * callback once.
 */
import { Type } from 'typebox';
import type { EventBus } from '../events.js';
import { defineJob } from '../job.js';
import type { NewRun, RunState, Storage } from '../storage/contract.js';

/** Name of the internal job; workers of every client run it. */
export const BATCH_JOB_NAME = 'zapjobs.batch';

/** Kinds of batch callbacks. */
export type BatchCallbackKind = 'onSuccess' | 'onFailure' | 'onFinish';
export const CALLBACK_KINDS: readonly BatchCallbackKind[] = ['onSuccess', 'onFailure', 'onFinish'];

/** Input of a finalizer run. */
export interface BatchJobInput {
  batchId: string;
  /** Callback runs to insert, built at batch creation. */
  callbacks: Partial<Record<BatchCallbackKind, NewRun>>;
}

/** Output of a finalizer run: the member counts it decided on and the callbacks it enqueued. */
export interface BatchJobOutput {
  total: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Ids of the callback runs enqueued, by kind. */
  enqueued: Partial<Record<BatchCallbackKind, string>>;
}

/** Stored unique key of a batch callback. */
export function batchCallbackKey(batchId: string, kind: BatchCallbackKind): string {
  return `zapjobs:batch:${batchId}:${kind}`;
}

/** Callbacks that apply to a finished batch with this many failed or cancelled members. */
export function callbacksFor(unsuccessful: number): BatchCallbackKind[] {
  return unsuccessful === 0 ? ['onSuccess', 'onFinish'] : ['onFailure', 'onFinish'];
}

/** Counts a batch's members by outcome. */
export function summarize(byState: Record<RunState, number>, total: number) {
  return {
    total,
    completed: byState.completed,
    failed: byState.failed,
    cancelled: byState.cancelled,
  };
}

/** Defines the finalizer job of a client, bound to its storage and event bus. */
export function createBatchJob(storage: () => Storage, bus: EventBus) {
  return defineJob({
    name: BATCH_JOB_NAME,
    input: Type.Object({
      batchId: Type.String(),
      callbacks: Type.Record(Type.String(), Type.Any()),
    }),
    output: Type.Object({
      total: Type.Integer(),
      completed: Type.Integer(),
      failed: Type.Integer(),
      cancelled: Type.Integer(),
      enqueued: Type.Record(Type.String(), Type.String()),
    }),
    defaults: { attempts: 10, historyLevel: 'lifecycle' },
    handler: async (input): Promise<BatchJobOutput> => {
      const { batchId, callbacks } = input as BatchJobInput;
      const counts = await storage().countGroup(batchId);
      const summary = summarize(counts.byState, counts.total);
      const kinds = callbacksFor(summary.failed + summary.cancelled).filter(
        (kind) => callbacks[kind] !== undefined,
      );
      const runs = kinds.map((kind) => callbacks[kind]!);
      const results = runs.length === 0 ? [] : await storage().insertRuns(runs);

      const enqueued: Partial<Record<BatchCallbackKind, string>> = {};
      kinds.forEach((kind, index) => {
        const result = results[index]!;
        enqueued[kind] = result.runId;
        bus.emit('job.enqueued', {
          runId: result.runId,
          job: runs[index]!.job,
          queue: runs[index]!.queue,
          created: result.created,
          tenantId: runs[index]!.tenantId ?? null,
        });
      });
      return { ...summary, enqueued };
    },
  });
}
