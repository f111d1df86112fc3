// Measures one worker process draining pre-enqueued no-op jobs, for profiling: wall time,
// worker CPU per job (process.cpuUsage) and, on request, a CPU or heap-sampling profile of the
// processing phase only. Not part of `pnpm bench`, which compares systems side by side.
//
//   node profile/processing.mjs zapjobs-pg [jobs]      (also zapjobs-redis, graphile)
//   PROFILE=cpu.cpuprofile node profile/processing.mjs zapjobs-pg
//   HEAP_PROFILE=heap.heapprofile node profile/processing.mjs zapjobs-pg
//
// The line printed at the end also gives the CPU time of the server's processes on this machine
// over the same phase: postgres or redis-server, read from /proc in clock ticks, which the
// script takes to be 10 ms each (100 per second, the usual USER_HZ).
//
// ZAPJOBS_PG_URL and ZAPJOBS_REDIS_URL choose the servers (default: the local ones); each run
// uses a fresh schema or key prefix and removes it at the end. PREFETCH sets the ZapJobs
// worker's prefetch (default 500, as the bench's fast configuration); REMOVE_ON_COMPLETE=1 gives
// the job removeOnComplete, which deletes each run when it completes. NO_FINISHED_NOTICES=1
// (PostgreSQL) replaces the schema's notify_completed, which both completions call, with a
// function that does nothing. It measures what the notices of completed runs cost, and waiters
// then never wake.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const PG_URL = process.env.ZAPJOBS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.ZAPJOBS_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONCURRENCY = 8;

const system = process.argv[2] ?? 'zapjobs-pg';
const jobs = Number(process.argv[3] ?? 20_000);
const namespace = `zjprofile${process.pid}`;

let handled = 0;
let allHandled;
const finished = new Promise((resolve) => {
  allHandled = resolve;
});
function handle() {
  handled += 1;
  if (handled === jobs) allHandled();
}

async function startProfiling() {
  if (!process.env.PROFILE && !process.env.HEAP_PROFILE) return null;
  const session = new Session();
  session.connect();
  if (process.env.PROFILE) {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  if (process.env.HEAP_PROFILE) {
    await session.post('HeapProfiler.enable');
    // Garbage is kept in the samples too: the profile shows what the phase allocates.
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  return session;
}

async function stopProfiling(session) {
  if (session === null) return;
  if (process.env.PROFILE) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(process.env.PROFILE, JSON.stringify(profile));
  }
  if (process.env.HEAP_PROFILE) {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(process.env.HEAP_PROFILE, JSON.stringify(profile));
  }
  session.disconnect();
}

/** Enqueues the jobs, then returns a function that starts processing and one that cleans up. */
async function prepareZapjobs(backend) {
  const { ZapJobs, defineJob, consoleLogger } = await import('@zapjobs/core');
  const { Type } = await import('typebox');
  let storage;
  if (backend === 'pg') {
    const { PostgresStorage } = await import('@zapjobs/storage-postgres');
    storage = new PostgresStorage({ connectionString: PG_URL, schema: namespace });
  } else {
    const { RedisStorage } = await import('@zapjobs/storage-redis');
    storage = new RedisStorage({ url: REDIS_URL, prefix: `${namespace}:` });
  }
  const job = defineJob({
    name: 'noop',
    input: Type.Object({ index: Type.Number() }),
    output: Type.Null(),
    defaults: { historyLevel: 'off', removeOnComplete: process.env.REMOVE_ON_COMPLETE === '1' },
    handler: () => {
      handle();
      return null;
    },
  });
  const zap = new ZapJobs({ storage, jobs: [job], logger: consoleLogger('warn') });
  await zap.init();
  if (process.env.NO_FINISHED_NOTICES === '1' && backend === 'pg') {
    await storage.pool.query(
      `create or replace function "${namespace}".notify_completed(p_ids uuid[])
       returns void language sql volatile as $$ select $$`,
    );
  }
  for (let first = 0; first < jobs; first += 1_000) {
    const count = Math.min(1_000, jobs - first);
    await zap.enqueueMany(
      Array.from({ length: count }, (_, offset) => ({ job, input: { index: first + offset } })),
    );
  }
  const worker = zap.createWorker({
    concurrency: CONCURRENCY,
    prefetch: Number(process.env.PREFETCH ?? 500),
  });
  return {
    start: () => worker.start(),
    stop: async () => {
      await worker.stop();
      if (backend === 'pg') await storage.pool.query(`drop schema "${namespace}" cascade`);
      await zap.close();
      if (backend === 'redis') await removeRedisKeys();
    },
  };
}

/** Deletes every key of this run's prefix. */
async function removeRedisKeys() {
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${namespace}:*`, 'COUNT', 1_000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
}

async function prepareGraphile() {
  const { Logger, makeWorkerUtils, run } = await import('graphile-worker');
  const options = {
    connectionString: PG_URL,
    schema: namespace,
    logger: new Logger(() => () => undefined),
  };
  const utils = await makeWorkerUtils(options);
  await utils.migrate();
  for (let first = 0; first < jobs; first += 1_000) {
    const count = Math.min(1_000, jobs - first);
    await utils.addJobs(
      Array.from({ length: count }, (_, offset) => ({
        identifier: 'noop',
        payload: { index: first + offset },
      })),
    );
  }
  let runner = null;
  return {
    // The bench's best configuration of graphile-worker.
    start: async () => {
      runner = await run({
        ...options,
        concurrency: CONCURRENCY,
        noHandleSignals: true,
        maxPoolSize: Math.max(10, CONCURRENCY + 2),
        taskList: { noop: async () => handle() },
        preset: {
          worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
        },
      });
    },
    stop: async () => {
      await runner?.stop();
      await utils.withPgClient((client) => client.query(`drop schema "${namespace}" cascade`));
      await utils.release();
    },
  };
}

const prepared =
  system === 'graphile'
    ? await prepareGraphile()
    : system === 'zapjobs-pg' || system === 'zapjobs-redis'
      ? await prepareZapjobs(system === 'zapjobs-pg' ? 'pg' : 'redis')
      : null;
if (prepared === null) {
  console.error(`Unknown system "${system}". Use zapjobs-pg, zapjobs-redis or graphile.`);
  process.exit(2);
}

/** CPU time in ms of every local process with this command name, from /proc (Linux only). */
function processCpuMs(command) {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (name !== command) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the command name.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended while being read.
    }
  }
  return ticks * 10;
}

const serverCommand = system === 'zapjobs-redis' ? 'redis-server' : 'postgres';
const session = await startProfiling();
const serverCpuBefore = processCpuMs(serverCommand);
const cpuBefore = process.cpuUsage();
const startedAt = performance.now();
await prepared.start();
await finished;
const elapsedMs = performance.now() - startedAt;
const cpu = process.cpuUsage(cpuBefore);
const serverCpuMs = processCpuMs(serverCommand) - serverCpuBefore;
await stopProfiling(session);
await prepared.stop();

const cpuPerJobUs = (cpu.user + cpu.system) / jobs;
console.log(
  `${system}: ${jobs} jobs in ${elapsedMs.toFixed(0)} ms, ` +
    `${Math.round(jobs / (elapsedMs / 1_000))} jobs/s, worker CPU ${cpuPerJobUs.toFixed(1)} µs/job, ` +
    `${serverCommand} CPU ${((serverCpuMs * 1_000) / jobs).toFixed(1)} µs/job`,
);
