import type { SystemSpec, SystemTraits } from '../adapter.js';

const TRAITS: SystemTraits = {
  bulkEnqueue: true,
  delayedJobs: true,
  concurrency: true,
  latency: true,
  relay: true,
};

async function storageLogger() {
  const { consoleLogger } = await import('@zapjobs/core');
  return consoleLogger('error');
}

const DEFAULT_DESCRIPTION = 'defaults (full run history)';
/** Runs the fast configurations claim ahead of free slots (worker option `prefetch`). */
const FAST_PREFETCH = 500;
const FAST_DESCRIPTION = `\`historyLevel: "off"\` (no run history), worker \`prefetch: ${FAST_PREFETCH}\``;

/**
 * ZapJobs on each backend, with default settings and with its fastest settings: no run history
 * and a prefetch buffer. On PostgreSQL the fast configuration also deletes runs as they
 * complete, which costs the server less than keeping them (bench/NOTES.md), and commits claims
 * asynchronously, which a server crash can undo (the storage's README). On Redis keeping
 * them is faster, and SQLite keeps them too.
 */
export const ZAPJOBS_SYSTEMS: SystemSpec[] = [false, true].flatMap((fast): SystemSpec[] => {
  const config = fast ? 'best' : 'default';
  const suffix = fast ? 'fast' : 'default';
  return [
    {
      id: `zapjobs-sqlite-${suffix}`,
      product: 'ZapJobs',
      family: 'zapjobs',
      backend: 'sqlite',
      config,
      configDescription: fast
        ? `${FAST_DESCRIPTION}, SqliteStorage \`pollIntervalMs: 10\``
        : DEFAULT_DESCRIPTION,
      packages: ['@zapjobs/core', '@zapjobs/storage-sqlite'],
      traits: TRAITS,
      load: async () => {
        const { SqliteStorage } = await import('@zapjobs/storage-sqlite');
        const { createZapjobsAdapter } = await import('./zapjobs.js');
        return createZapjobsAdapter(
          (context) =>
            new SqliteStorage({
              path: context.sqlitePath,
              ...(fast ? { pollIntervalMs: 10 } : {}),
            }),
          { fast, prefetch: fast ? FAST_PREFETCH : 0, removeOnComplete: false },
        );
      },
    },
    {
      id: `zapjobs-pg-${suffix}`,
      product: 'ZapJobs',
      family: 'zapjobs',
      backend: 'postgres',
      config,
      configDescription: fast
        ? `${FAST_DESCRIPTION}, \`removeOnComplete: true\` (enqueueAndWait calls keep their runs), ` +
          'PostgresStorage `asyncClaimCommit: true`'
        : DEFAULT_DESCRIPTION,
      packages: ['@zapjobs/core', '@zapjobs/storage-postgres'],
      traits: TRAITS,
      load: async () => {
        const { PostgresStorage } = await import('@zapjobs/storage-postgres');
        const { createZapjobsAdapter } = await import('./zapjobs.js');
        return createZapjobsAdapter(
          async (context) =>
            new PostgresStorage({
              connectionString: context.pgUrl,
              schema: context.pgSchema,
              ...(fast ? { asyncClaimCommit: true } : {}),
              logger: await storageLogger(),
            }),
          { fast, prefetch: fast ? FAST_PREFETCH : 0, removeOnComplete: fast },
        );
      },
    },
    {
      id: `zapjobs-redis-${suffix}`,
      product: 'ZapJobs',
      family: 'zapjobs',
      backend: 'redis',
      config,
      configDescription: fast ? FAST_DESCRIPTION : DEFAULT_DESCRIPTION,
      packages: ['@zapjobs/core', '@zapjobs/storage-redis'],
      traits: TRAITS,
      load: async () => {
        const { RedisStorage } = await import('@zapjobs/storage-redis');
        const { createZapjobsAdapter } = await import('./zapjobs.js');
        return createZapjobsAdapter(
          // Errors only: the warning that the server keeps nothing on disk would repeat for every
          // process, and the peers run on the same server.
          async (context) =>
            new RedisStorage({
              url: context.redisUrl,
              prefix: context.redisPrefix,
              logger: await storageLogger(),
            }),
          { fast, prefetch: fast ? FAST_PREFETCH : 0, removeOnComplete: false },
        );
      },
    },
  ];
});
