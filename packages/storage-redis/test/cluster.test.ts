import { fileURLToPath } from 'node:url';
import { runConformanceSuite } from '@zapjobs/core/testing';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';
import { memoryLogger, uniquePrefix } from './helpers/redis.js';
import { PrivateCluster } from './helpers/servers.js';

// The whole conformance suite against a three-master Redis Cluster started for this file.

interface Descriptor {
  cluster: Array<{ host: string; port: number }>;
  prefix: string;
}

const { logger } = memoryLogger();
let cluster: PrivateCluster;
let admin: Cluster;

beforeAll(async () => {
  cluster = await PrivateCluster.start();
  admin = new Cluster(cluster.nodes);
  await admin.ping();
}, 60_000);

afterAll(async () => {
  await admin?.quit();
  await cluster?.destroy();
});

async function open(descriptor: unknown): Promise<RedisStorage> {
  const { cluster: nodes, prefix } = descriptor as Descriptor;
  const storage = new RedisStorage({ cluster: { nodes }, prefix, logger });
  await storage.migrate();
  return storage;
}

/** Deletes a namespace's keys; they all live on the master that serves its hash tag's slot. */
async function deleteNamespace(prefix: string): Promise<void> {
  for (const node of admin.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
      if (keys.length > 0) await node.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}

describe('redis cluster layout', () => {
  it('keeps a namespace on one master', async () => {
    const prefix = uniquePrefix('slot');
    const storage = await open({ cluster: cluster.nodes, prefix });
    const id = '01900000-0000-7000-8000-000000000001';
    await storage.insertRuns([
      { id, job: 'j', queue: 'a', input: '{}', priority: 0, maxAttempts: 1, historyLevel: 'full' },
    ]);
    const holders: number[] = [];
    for (const node of admin.nodes('master')) {
      const [, keys] = await node.scan('0', 'MATCH', `{${prefix}}:*`, 'COUNT', 10_000);
      holders.push(keys.length);
    }
    await storage.close();
    await deleteNamespace(prefix);
    expect(holders.filter((count) => count > 0)).toHaveLength(1);
    expect(Math.max(...holders)).toBeGreaterThan(3);
  });
});

runConformanceSuite({
  name: 'redis-cluster',
  async create() {
    const descriptor: Descriptor = { cluster: cluster.nodes, prefix: uniquePrefix('cluster') };
    return { storage: await open(descriptor), descriptor };
  },
  open,
  openModule: fileURLToPath(new URL('./fixtures/open.mjs', import.meta.url)),
  async destroy(descriptor) {
    await deleteNamespace((descriptor as Descriptor).prefix);
  },
});
