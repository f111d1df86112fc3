/**
 * UUIDv7 run ids (RFC 9562): a 48-bit Unix time in milliseconds, then random bits.
 *
 * Ids from one process are strictly increasing. Within one millisecond the 12-bit `rand_a`
 * field is a counter (RFC 9562 section 6.2, method 1) that starts at a random value below
 * 2048. When the counter overflows or the clock steps back, the timestamp field is advanced
 * past the previous one. Ids from different processes are ordered by time to the millisecond.
 */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 8 * 256;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

let lastMs = -1;
let sequence = 0;

function randomBytes8(): Uint8Array {
  if (poolOffset + 8 > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 8);
  poolOffset += 8;
  return bytes;
}

/** Returns a new UUIDv7 string, greater than every id this process generated before. */
export function uuidv7(nowMs: number = Date.now()): string {
  const random = randomBytes8();

  if (nowMs > lastMs) {
    lastMs = nowMs;
    sequence = ((random[0]! << 8) | random[1]!) & 0x7ff;
  } else {
    sequence++;
    if (sequence > 0xfff) {
      lastMs++;
      sequence = ((random[0]! << 8) | random[1]!) & 0x7ff;
    }
  }

  const time = lastMs.toString(16).padStart(12, '0');
  const versionAndSequence = (0x7000 | sequence).toString(16);
  const variant = ((random[2]! & 0x3f) | 0x80).toString(16).padStart(2, '0');
  let tail = '';
  for (let i = 3; i < 8; i++) tail += random[i]!.toString(16).padStart(2, '0');
  const extra = randomBytes8();
  const rest = variant + byteHex(extra[0]!) + tail + byteHex(extra[1]!);

  return (
    `${time.slice(0, 8)}-${time.slice(8, 12)}-${versionAndSequence}-` +
    `${rest.slice(0, 4)}-${rest.slice(4, 16)}`
  );
}

function byteHex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

/** Reads the millisecond timestamp of a UUIDv7. */
export function uuidv7Time(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
