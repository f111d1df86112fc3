/**
 * The ZapJobs quick start: indexes real files with one in-process worker and two worker
 * processes sharing one SQLite file, then prints a summary read back from the database.
 *
 * Run it again on the same database and it resumes leftover runs without duplicating any:
 * every run has an idempotency key derived from the file's path.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexFile } from './jobs.js';
import { parseOptions, type QuickstartOptions, UsageRequest, usage } from './options.js';
import { openClient, workerQueues } from './setup.js';
import { formatSummary, summarize } from './summary.js';
import { collectFiles } from './walk.js';

const enqueueBatchSize = 1_000;

type Client = ReturnType<typeof openClient>;

async function main(options: QuickstartOptions): Promise<number> {
  const sessionStartedAt = Date.now();
  mkdirSync(dirname(options.db), { recursive: true });
  // The log keeps earlier sessions, so the retries of an interrupted session stay readable.
  const logPath = join(dirname(options.db), 'quickstart.log');
  appendFileSync(logPath, `${JSON.stringify({ session: new Date().toISOString() })}\n`);
  const client = openClient(options.db, logPath);
  await client.init();

  // All three workers start before the first enqueue, so they share the work from the start.
  const children = await startWorkerProcesses(options, logPath);
  const worker = client.createWorker({ queues: workerQueues, concurrency: options.concurrency });
  // Ctrl-C hands the runs in flight back at once instead of leaving them to a lease expiry.
  // The worker processes get the same signal from the terminal and stop the same way.
  const interrupted = (signal: NodeJS.Signals) => {
    console.log(`\n${signal}: stopping the workers; run the demo again to resume.`);
    void worker
      .stop()
      .then(() => stopWorkerProcesses(children))
      .then(() => client.close())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await worker.start();
    const { groupId, fileCount, reportRunId } = await enqueueAll(client, options);
    await showProgress(client, groupId, fileCount, reportRunId);
    await worker.stop();
    await stopWorkerProcesses(children);

    const summary = await summarize(client, groupId, sessionStartedAt);
    const reportRun = await client.getRun(reportRunId);
    console.log(`\n${formatSummary(summary)}`);
    console.log(`Report (${reportRun?.state ?? 'missing'}): ${options.reportPath}`);
    console.log(`Worker logs: ${logPath}`);

    const healthy =
      summary.unfinished === 0 &&
      summary.duplicateCompletions === 0 &&
      summary.runs === fileCount &&
      reportRun?.state === 'completed';
    if (!healthy) console.error('The run ended with lost runs, duplicates or a missing report.');
    return healthy ? 0 : 1;
  } finally {
    await worker.stop();
    await stopWorkerProcesses(children);
    await client.close();
  }
}

/**
 * Enqueues one run per file and the fan-in report run. Idempotency keys derived from the
 * paths make a second invocation on the same database create nothing new.
 */
async function enqueueAll(client: Client, options: QuickstartOptions) {
  const files = await collectFiles(options.dir, options.jobs);
  const groupId = `index:${createHash('sha256').update(options.dir).digest('hex').slice(0, 16)}`;
  console.log(`Indexing ${files.length} files under ${options.dir}`);
  console.log(`Database: ${options.db}`);

  const runIds: string[] = [];
  let created = 0;
  const enqueueStartedAt = performance.now();
  for (let start = 0; start < files.length; start += enqueueBatchSize) {
    const batch = files.slice(start, start + enqueueBatchSize).map((path) => ({
      job: indexFile,
      input: { path, failRate: options.failRate },
      options: { groupId, idempotencyKey: `${groupId}:${relative(options.dir, path)}` },
    }));
    for (const result of await client.enqueueMany(batch)) {
      runIds.push(result.runId);
      if (result.created) created++;
    }
  }
  const enqueueMs = performance.now() - enqueueStartedAt;
  console.log(
    `Enqueued ${created} new runs (${files.length - created} already in the database) ` +
      `in ${enqueueMs.toFixed(0)} ms`,
  );

  // The fan-in run waits for every file run, whatever its outcome.
  const report = await client.enqueue(
    'write-report',
    { groupId, reportPath: options.reportPath },
    {
      idempotencyKey: `${groupId}:report:${files.length}`,
      dependsOn: runIds.map((runId) => ({ runId, condition: 'always' as const })),
    },
  );
  return { groupId, fileCount: files.length, reportRunId: report.runId };
}

/** Forks the worker processes and resolves once each one reports that its worker started. */
async function startWorkerProcesses(
  options: QuickstartOptions,
  logPath: string,
): Promise<ChildProcess[]> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'worker.ts');
  const children = Array.from({ length: options.workerProcesses }, () =>
    fork(script, [options.db, logPath, String(options.concurrency)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          child.once('message', () => resolve());
          child.once('exit', (code) =>
            reject(new Error(`Worker process ${child.pid} exited with code ${code} at start-up.`)),
          );
        }),
    ),
  );
  return children;
}

async function stopWorkerProcesses(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}

/** Draws a progress bar from the database until the fan-in run has finished. */
async function showProgress(
  client: Client,
  groupId: string,
  total: number,
  reportRunId: string,
): Promise<void> {
  const width = 30;
  const interactive = process.stdout.isTTY === true;
  let lastPrinted = -1;
  for (;;) {
    const counts = await client.countRuns({ groupId });
    const done = counts.completed + counts.failed + counts.cancelled;
    const share = total === 0 ? 1 : done / total;
    const filled = Math.round(share * width);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const line =
      `${bar} ${done}/${total} finished, ${counts.running} running, ` +
      `${counts.scheduled} waiting to retry, ${counts.failed} dead-lettered`;
    const percent = Math.floor(share * 10);
    if (interactive) process.stdout.write(`\r${line}`);
    else if (percent !== lastPrinted) console.log(line);
    lastPrinted = percent;

    const reportRun = await client.getRun(reportRunId);
    if (reportRun && ['completed', 'failed', 'cancelled'].includes(reportRun.state)) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (interactive) process.stdout.write('\n');
}

try {
  process.exitCode = await main(parseOptions(process.argv.slice(2)));
} catch (error) {
  if (error instanceof UsageRequest) {
    console.log(usage);
  } else {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
