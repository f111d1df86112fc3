/**
 * A waiter process for the relay conformance tests: it runs no worker, only a client that
 * waits for runs enqueued and run by the test process. It reads its configuration from the
 * `ZAPJOBS_RELAY_CHILD_CONFIG` environment variable (JSON: `openModule`, `descriptor`,
 * `waits`: `[{ runId, timeoutMs?, cancelOnTimeout? }]`), prints `{"ready":true}` once every
 * wait is registered, then one `{"result":...}` line per wait as it settles, and exits 0.
 */
import { pathToFileURL } from 'node:url';
import { ZapJobs } from '../client.js';
import { RunFailedError, ZapJobsError } from '../errors.js';
import { silentLogger } from '../logger.js';
import type { Storage } from '../storage/contract.js';

interface ChildConfig {
  openModule: string;
  descriptor: unknown;
  waits: { runId: string; timeoutMs?: number; cancelOnTimeout?: boolean }[];
}

function describeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { thrown: String(error) };
  return {
    className: error.constructor.name,
    name: error.name,
    message: error.message,
    code: error instanceof ZapJobsError ? error.code : null,
    isZapJobsError: error instanceof ZapJobsError,
    original: error instanceof RunFailedError ? error.error : null,
    cancelled: (error as { cancelled?: unknown }).cancelled ?? null,
  };
}

async function main(): Promise<void> {
  const raw = process.env.ZAPJOBS_RELAY_CHILD_CONFIG;
  if (raw === undefined) throw new Error('ZAPJOBS_RELAY_CHILD_CONFIG is not set');
  const config = JSON.parse(raw) as ChildConfig;
  const module = (await import(pathToFileURL(config.openModule).href)) as {
    open(descriptor: unknown): Promise<Storage>;
  };
  const zap = new ZapJobs({ storage: await module.open(config.descriptor), logger: silentLogger });

  const settled = config.waits.map(async ({ runId, ...options }) => {
    try {
      const output = await zap.waitFor(runId, options);
      return { runId, ok: true, output };
    } catch (error) {
      return { runId, ok: false, error: describeError(error) };
    }
  });
  let finished = 0;
  for (const result of settled) {
    void result.then((value) => {
      finished++;
      process.stdout.write(`${JSON.stringify({ result: value })}\n`);
    });
  }
  // A wait settles at once when its run already finished, so count those too.
  while (zap.pendingWaits + finished < config.waits.length) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);

  await Promise.all(settled);
  await zap.close();
  process.exit(0);
}

process.stdin.on('close', () => process.exit(2));
process.stdin.resume();
main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
