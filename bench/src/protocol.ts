import type { RunContext } from './adapter.js';

/** What the runner passes to a worker process as its only argument, JSON-encoded. */
export interface WorkerArgs {
  systemId: string;
  context: RunContext;
  concurrency: number;
}

/** Messages from the runner to a worker process. */
export type ToWorker = { type: 'start' } | { type: 'stop' };

/** Messages from a worker process to the runner. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'started' }
  | { type: 'first-start'; at: number }
  | { type: 'progress'; executed: number }
  | { type: 'failed'; message: string }
  | {
      type: 'report';
      executed: number;
      latencyMs: number[];
      latenessMs: number[];
      maxRssKiB: number;
    };
