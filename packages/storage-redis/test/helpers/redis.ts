import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** URL of the shared Redis server the tests use. */
export const redisUrl = process.env.ZAPJOBS_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Creates a logger that records its lines, for tests that check or silence them. */
export function memoryLogger() {
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  const log =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      lines.push({ level, message, fields });
    };
  return {
    lines,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  };
}

/** Returns a namespace prefix that no other test uses. */
export function uniquePrefix(label = 't'): string {
  return `zjt-${label}-${randomBytes(6).toString('hex')}`;
}

/**
 * Checks that the shared Redis server replies to PING. Under CI=true an unreachable server
 * fails the test file. Elsewhere the failure comes with a notice that tells how to start one.
 */
export async function requireRedis(url: string = redisUrl): Promise<void> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    const message =
      `Redis is not reachable at ${url} (${(error as Error).message}). ` +
      'Start redis-server or set ZAPJOBS_REDIS_URL; the Redis storage tests need a real server.';
    if (process.env.CI !== 'true') {
      console.error(`\n${'!'.repeat(100)}\n!! ${message}\n${'!'.repeat(100)}\n`);
    }
    throw new Error(message);
  } finally {
    probe.disconnect();
  }
}

/** Deletes every key of a namespace on a standalone server; returns how many it deleted. */
export async function deleteNamespace(connection: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  for (const keys of await scanNamespace(connection, prefix)) {
    deleted += await connection.unlink(...keys);
  }
  return deleted;
}

/** Counts the keys of a namespace on a standalone server. */
export async function countNamespaceKeys(connection: Redis, prefix: string): Promise<number> {
  let count = 0;
  for (const keys of await scanNamespace(connection, prefix)) count += keys.length;
  return count;
}

async function scanNamespace(connection: Redis, prefix: string): Promise<string[][]> {
  const batches: string[][] = [];
  let cursor = '0';
  do {
    const [next, keys] = await connection.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
    if (keys.length > 0) batches.push(keys);
    cursor = next;
  } while (cursor !== '0');
  return batches;
}
