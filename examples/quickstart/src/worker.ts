/**
 * A worker process of the quick start: opens the shared SQLite file and processes runs until
 * it receives SIGTERM or SIGINT, or the demo process goes away, then stops gracefully.
 */
import { openClient, workerQueues } from './setup.js';

const [dbPath, logPath, concurrencyText] = process.argv.slice(2);
if (dbPath === undefined || logPath === undefined || concurrencyText === undefined) {
  console.error('Usage: worker.ts DB_PATH LOG_PATH CONCURRENCY');
  process.exit(2);
}

const client = openClient(dbPath, logPath);
const worker = client.createWorker({
  queues: workerQueues,
  concurrency: Number(concurrencyText),
  handleSignals: true,
  shutdownTimeoutMs: 10_000,
});
client.on('worker.stopped', () => {
  client.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('Closing the worker process failed:', error);
      process.exit(1);
    },
  );
});
// The demo process gone (killed, or ended without stopping this one) means no one stops this
// worker: stop gracefully instead of working on as an orphan.
process.once('disconnect', () => {
  void worker.stop();
});
await worker.start();
process.send?.({ type: 'ready', workerId: worker.id });
