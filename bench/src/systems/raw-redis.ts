/**
 * The Redis limit: a job queue's claim and complete work written directly with ioredis, with
 * no library. Four connections each pop up to 64 jobs with LMPOP ... COUNT 64 and record the
 * completions with a pipeline of one HSET per job. The scenario's concurrency does not apply.
 */
import { Redis } from 'ioredis';
import type {
  JobPayload,
  RunContext,
  RunningWorker,
  SystemAdapter,
  WorkerOptions,
} from '../adapter.js';
import { sleep } from '../clock.js';

const CONNECTIONS = 4;
const CLAIM_BATCH = 64;
/** Pause of a claim loop that found the list empty. */
const IDLE_PAUSE_MS = 1;

export function createRawRedisAdapter() {
  return (context: RunContext): SystemAdapter => new RawRedisAdapter(context);
}

class RawRedisAdapter implements SystemAdapter {
  private redis: Redis | null = null;
  private readonly readyKey: string;
  private readonly sequenceKey: string;
  private readonly doneKey: string;

  constructor(private readonly context: RunContext) {
    this.readyKey = `${context.redisPrefix}:ready`;
    this.sequenceKey = `${context.redisPrefix}:seq`;
    this.doneKey = `${context.redisPrefix}:done`;
  }

  async setup(): Promise<void> {
    await this.open();
  }

  async open(): Promise<void> {
    this.redis = new Redis(this.context.redisUrl);
  }

  private get client(): Redis {
    if (!this.redis) throw new Error('raw Redis client used before setup() or open()');
    return this.redis;
  }

  private jobKey(id: number | string): string {
    return `${this.context.redisPrefix}:job:${id}`;
  }

  async enqueueOne(payload: JobPayload): Promise<void> {
    await this.enqueueMany([payload]);
  }

  async enqueueMany(payloads: JobPayload[]): Promise<void> {
    const last = await this.client.incrby(this.sequenceKey, payloads.length);
    const first = last - payloads.length + 1;
    const pipeline = this.client.pipeline();
    const entries: string[] = [];
    payloads.forEach((payload, index) => {
      const data = JSON.stringify(payload);
      pipeline.hset(this.jobKey(first + index), 'payload', data, 'state', 'available');
      entries.push(`${first + index}|${data}`);
    });
    pipeline.rpush(this.readyKey, ...entries);
    await pipeline.exec();
  }

  async enqueueDelayed(): Promise<void> {
    throw new Error('the raw Redis limit has no delayed jobs');
  }

  async remaining(): Promise<number> {
    const [enqueued, done] = await this.client.mget(this.sequenceKey, this.doneKey);
    return Number(enqueued ?? 0) - Number(done ?? 0);
  }

  async startWorker(options: WorkerOptions): Promise<RunningWorker> {
    let stopping = false;
    const connections = Array.from({ length: CONNECTIONS }, () => new Redis(this.context.redisUrl));

    const loop = async (redis: Redis): Promise<void> => {
      while (!stopping) {
        const popped = (await redis.call(
          'LMPOP',
          1,
          this.readyKey,
          'LEFT',
          'COUNT',
          CLAIM_BATCH,
        )) as [string, string[]] | null;
        if (popped === null) {
          await sleep(IDLE_PAUSE_MS);
          continue;
        }
        const pipeline = redis.pipeline();
        const finishedAt = Date.now();
        for (const entry of popped[1]) {
          const separator = entry.indexOf('|');
          options.handler(JSON.parse(entry.slice(separator + 1)) as JobPayload);
          pipeline.hset(
            this.jobKey(entry.slice(0, separator)),
            'state',
            'completed',
            'finishedAt',
            finishedAt,
          );
        }
        pipeline.incrby(this.doneKey, popped[1].length);
        await pipeline.exec();
      }
    };

    const loops = connections.map((redis) => loop(redis));
    return {
      stop: async () => {
        stopping = true;
        await Promise.all(loops);
        for (const redis of connections) redis.disconnect();
      },
    };
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
    this.redis = null;
  }

  async teardown(): Promise<void> {}
}
