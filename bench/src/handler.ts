import { createHash } from 'node:crypto';
import type { JobPayload } from './adapter.js';
import { nowMs } from './clock.js';

const CPU_BLOCK = Buffer.alloc(1024, 7);

/** Computes `rounds` chained SHA-256 digests over 1 KiB: deterministic CPU work. */
export function burnCpu(rounds: number): string {
  let digest = CPU_BLOCK;
  for (let round = 0; round < rounds; round += 1) {
    digest = createHash('sha256').update(CPU_BLOCK).update(digest).digest();
  }
  return digest.toString('hex');
}

/** Counts executions and records the samples that payloads ask for. */
export class HandlerRecorder {
  executed = 0;
  firstStartAt: number | null = null;
  readonly latencyMs: number[] = [];
  readonly latenessMs: number[] = [];
  private readonly onFirstStart: (at: number) => void;

  constructor(onFirstStart: (at: number) => void) {
    this.onFirstStart = onFirstStart;
  }

  readonly handle = (payload: JobPayload): void => {
    const startedAt = nowMs();
    if (this.firstStartAt === null) {
      this.firstStartAt = startedAt;
      this.onFirstStart(startedAt);
    }
    if (payload.sample === 'latency') this.latencyMs.push(startedAt - payload.sentAt);
    if (payload.sample === 'lateness' && payload.dueAt !== undefined) {
      this.latenessMs.push(startedAt - payload.dueAt);
    }
    if (payload.cpuRounds !== undefined && payload.cpuRounds > 0) burnCpu(payload.cpuRounds);
    this.executed += 1;
  };
}
