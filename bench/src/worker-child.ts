/**
 * Entry point of a worker process: opens the system named in its argument, waits for `start`,
 * runs the system's worker with the recording handler, and reports on `stop`.
 */
import type { RunningWorker } from './adapter.js';
import { HandlerRecorder } from './handler.js';
import type { FromWorker, ToWorker, WorkerArgs } from './protocol.js';
import { findSystem } from './systems/registry.js';

const PROGRESS_INTERVAL_MS = 10;

function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) {
      resolve();
      return;
    }
    process.send(message, undefined, undefined, () => resolve());
  });
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as WorkerArgs;
  const spec = findSystem(args.systemId);
  const adapter = (await spec.load())(args.context);
  await adapter.open();

  const recorder = new HandlerRecorder((at) => void send({ type: 'first-start', at }));
  let worker: RunningWorker | null = null;
  let reported = 0;
  const progress = setInterval(() => {
    if (recorder.executed !== reported) {
      reported = recorder.executed;
      void send({ type: 'progress', executed: reported });
    }
  }, PROGRESS_INTERVAL_MS);

  process.on('message', (message: ToWorker) => {
    if (message.type === 'start') {
      adapter
        .startWorker({ concurrency: args.concurrency, handler: recorder.handle })
        .then((started) => {
          worker = started;
          return send({ type: 'started' });
        })
        .catch((error: unknown) => fail(error));
    } else if (message.type === 'stop') {
      clearInterval(progress);
      void stop(worker, recorder).catch((error: unknown) => fail(error));
    }
  });

  async function stop(running: RunningWorker | null, recorded: HandlerRecorder): Promise<void> {
    await running?.stop();
    await adapter.close();
    await send({
      type: 'report',
      executed: recorded.executed,
      latencyMs: recorded.latencyMs,
      latenessMs: recorded.latenessMs,
      maxRssKiB: process.resourceUsage().maxRSS,
    });
    // Some systems keep timers or sockets open after close; the report is all that matters now.
    process.exit(0);
  }

  await send({ type: 'ready' });
}

function fail(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  void send({ type: 'failed', message }).then(() => process.exit(1));
}

main().catch(fail);
