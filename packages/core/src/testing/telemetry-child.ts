/**
 * A worker process with the OpenTelemetry SDK, for the telemetry conformance tests. It
 * registers a global tracer provider with an in-memory exporter and an AsyncLocalStorage
 * context manager, as an application would, and runs the relay fixture jobs.
 *
 * Configuration comes from `ZAPJOBS_TELEMETRY_CHILD_CONFIG` (JSON: `openModule`, `descriptor`,
 * `worker` options). It prints `{"ready":true}` once claiming started; each `dump` line on
 * stdin prints `{"spans":[...]}` with every finished span; stdin closing stops it.
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ZapJobs } from '../client.js';
import { silentLogger } from '../logger.js';
import type { Storage } from '../storage/contract.js';
import type { WorkerOptions } from '../worker.js';
import { relayFixtureJobs } from './relay-fixtures.js';
import { createTracing, summarizeSpan } from './telemetry-sdk.js';

interface ChildConfig {
  openModule: string;
  descriptor: unknown;
  worker: WorkerOptions;
}

async function main(): Promise<void> {
  const raw = process.env.ZAPJOBS_TELEMETRY_CHILD_CONFIG;
  if (raw === undefined) throw new Error('ZAPJOBS_TELEMETRY_CHILD_CONFIG is not set');
  const config = JSON.parse(raw) as ChildConfig;

  const tracing = createTracing();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracing.provider);

  const module = (await import(pathToFileURL(config.openModule).href)) as {
    open(descriptor: unknown): Promise<Storage>;
  };
  const zap = new ZapJobs({
    storage: await module.open(config.descriptor),
    jobs: relayFixtureJobs,
    logger: silentLogger,
  });
  const worker = zap.createWorker(config.worker);
  await worker.start();
  process.stdout.write(`${JSON.stringify({ ready: true, workerId: worker.id })}\n`);

  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line.trim() !== 'dump') return;
    const spans = tracing.exporter.getFinishedSpans().map(summarizeSpan);
    process.stdout.write(`${JSON.stringify({ spans })}\n`);
  });
  input.on('close', () => {
    zap.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
