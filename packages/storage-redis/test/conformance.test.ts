import { fileURLToPath } from 'node:url';
import { runConformanceSuite } from '@zapjobs/core/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { RedisStorage } from '../src/index.js';
import {
  deleteNamespace,
  memoryLogger,
  redisUrl,
  requireRedis,
  uniquePrefix,
} from './helpers/redis.js';

interface Descriptor {
  url: string;
  prefix: string;
}

const { logger } = memoryLogger();
let admin: Redis;

beforeAll(async () => {
  await requireRedis();
  admin = new Redis(redisUrl);
});

afterAll(async () => {
  await admin?.quit();
});

async function open(descriptor: unknown): Promise<RedisStorage> {
  const { url, prefix } = descriptor as Descriptor;
  const storage = new RedisStorage({ url, prefix, logger });
  await storage.migrate();
  return storage;
}

runConformanceSuite({
  name: 'redis',
  async create() {
    const descriptor: Descriptor = { url: redisUrl, prefix: uniquePrefix('conf') };
    return { storage: await open(descriptor), descriptor };
  },
  open,
  openModule: fileURLToPath(new URL('./fixtures/open.mjs', import.meta.url)),
  async destroy(descriptor) {
    await deleteNamespace(admin, (descriptor as Descriptor).prefix);
  },
});
