import type { SystemSpec, SystemTraits } from '../adapter.js';
import { ZAPJOBS_SYSTEMS } from './zapjobs-specs.js';

const FULL: SystemTraits = {
  bulkEnqueue: true,
  delayedJobs: true,
  concurrency: true,
  latency: true,
  relay: false,
};
const LIMIT: SystemTraits = {
  bulkEnqueue: true,
  delayedJobs: false,
  concurrency: false,
  latency: false,
  relay: false,
};

const PEERS: SystemSpec[] = [
  {
    id: 'graphile-default',
    product: 'graphile-worker',
    family: 'peer',
    backend: 'postgres',
    config: 'default',
    configDescription: 'defaults (`concurrency` = c)',
    packages: ['graphile-worker'],
    traits: FULL,
    load: async () => (await import('./graphile.js')).createGraphileAdapter(false),
  },
  {
    id: 'graphile-best',
    product: 'graphile-worker',
    family: 'peer',
    backend: 'postgres',
    config: 'best',
    configDescription:
      '`localQueue: { size: 500 }`, `completeJobBatchDelay: 0`, `failJobBatchDelay: 0`, ' +
      '`maxPoolSize` = max(10, c + 2)',
    packages: ['graphile-worker'],
    traits: FULL,
    load: async () => (await import('./graphile.js')).createGraphileAdapter(true),
  },
  {
    id: 'pgboss-default',
    product: 'pg-boss',
    family: 'peer',
    backend: 'postgres',
    config: 'default',
    configDescription: 'defaults, `localConcurrency` = c (one job per fetch, 2 s poll)',
    packages: ['pg-boss'],
    traits: FULL,
    load: async () => (await import('./pgboss.js')).createPgBossAdapter(false),
  },
  {
    id: 'pgboss-best',
    product: 'pg-boss',
    family: 'peer',
    backend: 'postgres',
    config: 'best',
    configDescription:
      '`batchSize` = c, `burstWhenBatchFull`, `useListenNotify` with a `notify: true` queue',
    packages: ['pg-boss'],
    traits: FULL,
    load: async () => (await import('./pgboss.js')).createPgBossAdapter(true),
  },
  {
    id: 'bullmq-redis-default',
    product: 'BullMQ',
    family: 'peer',
    backend: 'redis',
    config: 'default',
    configDescription: 'defaults (`concurrency` = c)',
    packages: ['bullmq', 'ioredis'],
    traits: FULL,
    load: async () => (await import('./bullmq.js')).createBullmqAdapter('redis', false),
  },
  {
    id: 'bullmq-redis-best',
    product: 'BullMQ',
    family: 'peer',
    backend: 'redis',
    config: 'best',
    configDescription: '`removeOnComplete: { count: 0 }`, `removeOnFail: { count: 5000 }`',
    packages: ['bullmq', 'ioredis'],
    traits: FULL,
    load: async () => (await import('./bullmq.js')).createBullmqAdapter('redis', true),
  },
  {
    id: 'bullmq-pg-default',
    product: 'BullMQ (PostgreSQL backend)',
    family: 'peer',
    backend: 'postgres',
    config: 'default',
    configDescription: '`createPostgresBackend` defaults (`concurrency` = c)',
    packages: ['bullmq', 'pg'],
    traits: FULL,
    load: async () => (await import('./bullmq.js')).createBullmqAdapter('postgres', false),
  },
  {
    id: 'bullmq-pg-best',
    product: 'BullMQ (PostgreSQL backend)',
    family: 'peer',
    backend: 'postgres',
    config: 'best',
    configDescription: '`removeOnComplete: { count: 0 }`, `removeOnFail: { count: 5000 }`',
    packages: ['bullmq', 'pg'],
    traits: FULL,
    load: async () => (await import('./bullmq.js')).createBullmqAdapter('postgres', true),
  },
  {
    id: 'plainjob-default',
    product: 'plainjob',
    family: 'peer',
    backend: 'sqlite',
    config: 'default',
    configDescription: 'defaults (1,000 ms poll), c workers of one job each',
    packages: ['plainjob', 'better-sqlite3-12'],
    traits: FULL,
    load: async () => (await import('./plainjob.js')).createPlainjobAdapter(false),
  },
  {
    id: 'plainjob-best',
    product: 'plainjob',
    family: 'peer',
    backend: 'sqlite',
    config: 'best',
    configDescription: '`pollIntervall: 10` ms, c workers of one job each',
    packages: ['plainjob', 'better-sqlite3-12'],
    traits: FULL,
    load: async () => (await import('./plainjob.js')).createPlainjobAdapter(true),
  },
  {
    id: 'liteque-default',
    product: 'liteque',
    family: 'peer',
    backend: 'sqlite',
    config: 'default',
    configDescription: 'README example values (1,000 ms poll), `concurrency` = c',
    packages: ['liteque', 'better-sqlite3'],
    traits: { ...FULL, bulkEnqueue: false },
    load: async () => (await import('./liteque.js')).createLitequeAdapter(false),
  },
  {
    id: 'liteque-best',
    product: 'liteque',
    family: 'peer',
    backend: 'sqlite',
    config: 'best',
    configDescription: '`pollIntervalMs: 10`, `concurrency` = c',
    packages: ['liteque', 'better-sqlite3'],
    traits: { ...FULL, bulkEnqueue: false },
    load: async () => (await import('./liteque.js')).createLitequeAdapter(true),
  },
  {
    id: 'dbos-default',
    product: 'DBOS Transact',
    family: 'peer',
    backend: 'postgres',
    config: 'default',
    configDescription: 'workflow queue with `workerConcurrency` = c, default 1,000 ms poll',
    packages: ['@dbos-inc/dbos-sdk'],
    traits: { ...FULL, bulkEnqueue: false },
    load: async () => (await import('./dbos.js')).createDbosAdapter(false),
  },
  {
    id: 'dbos-best',
    product: 'DBOS Transact',
    family: 'peer',
    backend: 'postgres',
    config: 'best',
    configDescription: 'workflow queue with `workerConcurrency` = c, `minPollingIntervalMs: 10`',
    packages: ['@dbos-inc/dbos-sdk'],
    traits: { ...FULL, bulkEnqueue: false },
    fullProfileOnly:
      'one quick cell would take about 20 to 30 s, an estimate from enqueue near 1,000 jobs/s ' +
      'with no bulk API and processing under 500 jobs/s, so its three cells would add 1 to 1.5 ' +
      'minutes to the quick profile',
    load: async () => (await import('./dbos.js')).createDbosAdapter(true),
  },
];

const LIMITS: SystemSpec[] = [
  {
    id: 'raw-postgres',
    product: 'no library (pg)',
    family: 'limit',
    backend: 'postgres',
    config: 'best',
    configDescription:
      '4 connections, each claiming 64 rows with `FOR UPDATE SKIP LOCKED` and completing them ' +
      'in one `UPDATE ... = ANY($1)`',
    packages: ['pg'],
    traits: LIMIT,
    load: async () => (await import('./raw-postgres.js')).createRawPostgresAdapter(),
  },
  {
    id: 'raw-redis',
    product: 'no library (ioredis)',
    family: 'limit',
    backend: 'redis',
    config: 'best',
    configDescription: '4 connections, `LMPOP ... COUNT 64`, then a pipeline of one `HSET` per job',
    packages: ['ioredis'],
    traits: LIMIT,
    load: async () => (await import('./raw-redis.js')).createRawRedisAdapter(),
  },
];

const QUICK_SKIPS_DEFAULTS = 'the quick profile runs only the best configuration of each peer';

export const SYSTEMS: readonly SystemSpec[] = [
  ...ZAPJOBS_SYSTEMS,
  ...PEERS.map((spec) =>
    spec.config === 'default' && !spec.fullProfileOnly
      ? { ...spec, fullProfileOnly: QUICK_SKIPS_DEFAULTS }
      : spec,
  ),
  ...LIMITS,
];

export function findSystem(id: string): SystemSpec {
  const spec = SYSTEMS.find((system) => system.id === id);
  if (!spec) {
    const known = SYSTEMS.map((system) => system.id).join(', ');
    throw new Error(`unknown system id "${id}"; known ids: ${known}`);
  }
  return spec;
}
