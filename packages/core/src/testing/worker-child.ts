/**
 * A worker process for the multi-process conformance tests. It reads its configuration from
 * the `ZAPJOBS_CHILD_CONFIG` environment variable (JSON: `openModule`, `descriptor`,
 * `worker` options), opens the storage through `openModule`, runs the fixture jobs and prints
 * one JSON line `{"ready":true,"workerId":...}` once claiming started.
 *
 * It stops gracefully on SIGTERM (through the worker's own handlers when `handleSignals` is
 * set, printing `{"stopped":true,"forced":...}`), and exits when its stdin closes, so it never
 * outlives the test process that spawned it.
 */
import { pathToFileURL } from 'node:url';
import { ZapJobs } from '../client.js';
import { fromConsole } from '../logger.js';
import type { Storage } from '../storage/contract.js';
import type { WorkerOptions } from '../worker.js';
import { fixtureJobs } from './fixtures.js';

interface ChildConfig {
  openModule: string;
  descriptor: unknown;
  worker: WorkerOptions;
}

async function main(): Promise<void> {
  const raw = process.env.ZAPJOBS_CHILD_CONFIG;
  if (raw === undefined) throw new Error('ZAPJOBS_CHILD_CONFIG is not set');
  const config = JSON.parse(raw) as ChildConfig;
  const module = (await import(pathToFileURL(config.openModule).href)) as {
    open(descriptor: unknown): Promise<Storage>;
  };
  const storage = await module.open(config.descriptor);
  const zap = new ZapJobs({
    storage,
    jobs: fixtureJobs,
    logger: fromConsole(console, 'info'),
  });
  const worker = zap.createWorker(config.worker);
  await worker.start();
  process.stdout.write(
    `${JSON.stringify({ ready: true, workerId: worker.id, pid: process.pid })}\n`,
  );

  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    zap.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  if (config.worker.handleSignals === true) {
    // The worker handles SIGTERM and SIGINT itself; the process exits once it stopped.
    zap.on('worker.stopped', (event) => {
      process.stdout.write(`${JSON.stringify({ stopped: true, forced: event.forced })}\n`);
      shutdown();
    });
  } else {
    process.on('SIGTERM', shutdown);
  }
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
