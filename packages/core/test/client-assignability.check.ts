/**
 * Compile-time checks that a typed client is a `ZapJobs`, verified by `pnpm typecheck` (tsc
 * covers test/). Each `@ts-expect-error` line must fail to compile; if one compiles, tsc
 * reports the unused directive and typecheck fails.
 */
import { Type } from 'typebox';
import { defineJob, type Storage, ZapJobs } from '../src/index.js';

const resize = defineJob({
  name: 'resize-image',
  input: Type.Object({ url: Type.String(), width: Type.Integer() }),
  output: Type.Object({ url: Type.String() }),
  handler: async ({ url }) => ({ url }),
});

const notify = defineJob({
  name: 'notify-user',
  input: Type.Object({ userId: Type.String() }),
  output: Type.Null(),
  handler: async () => null,
});

declare const storage: Storage;
const typed = new ZapJobs({ storage, jobs: [resize, notify] });

/** A library function that accepts any client, as plugins and helpers do. */
async function countFailed(zap: ZapJobs): Promise<number> {
  const counts = await zap.countRuns();
  return counts.failed;
}

function keep(zap: ZapJobs): ZapJobs {
  return zap;
}

export async function typedClientIsAClient(): Promise<void> {
  await countFailed(typed);
  const clients: ZapJobs[] = [typed, new ZapJobs({ storage })];
  keep(clients[0]!);

  // The typed client still checks enqueue by name.
  await typed.enqueue('resize-image', { url: 'https://x', width: 10 });
  // @ts-expect-error width is missing
  await typed.enqueue('resize-image', { url: 'https://x' });
  // @ts-expect-error input of notify-user given to resize-image
  await typed.enqueue('resize-image', { userId: 'u1' });
  // @ts-expect-error unknown job name
  await typed.enqueue('resize-images', { url: 'https://x', width: 10 });
  await typed.enqueueMany([{ job: 'notify-user', input: { userId: 'u1' } }]);
  // @ts-expect-error input does not match the job named in the same item
  await typed.enqueueMany([{ job: 'notify-user', input: { url: 'https://x' } }]);

  // A job object types its input on an untyped client too.
  const loose: ZapJobs = typed;
  await loose.enqueue('anything', { any: 'input' });
  // @ts-expect-error userId must be a string
  await loose.enqueue(notify, { userId: 1 });
}
