/**
 * Compile-time checks of the typed client, verified by `pnpm typecheck` (tsc covers test/).
 * Each `@ts-expect-error` line must fail to compile; if one compiles, tsc reports the unused
 * directive and typecheck fails.
 */
import { Type } from 'typebox';
import { defineJob, type InputOf, type OutputOf, type Storage, ZapJobs } from '../src/index.js';

const hash = defineJob({
  name: 'hash-file',
  input: Type.Object({ path: Type.String(), chunks: Type.Optional(Type.Integer()) }),
  output: Type.Object({ sha256: Type.String() }),
  handler: async ({ path }) => ({ sha256: path }),
});

const email = defineJob({
  name: 'send-email',
  input: Type.Object({ to: Type.String() }),
  output: Type.Null(),
  handler: async () => null,
});

declare const storage: Storage;
const zap = new ZapJobs({ storage, jobs: [hash, email] });

export async function typedEnqueue(): Promise<void> {
  // By job object.
  await zap.enqueue(hash, { path: '/x' });
  await zap.enqueue(hash, { path: '/x', chunks: 3 }, { delayMs: 10 });
  // @ts-expect-error path must be a string
  await zap.enqueue(hash, { path: 1 });
  // @ts-expect-error path is required
  await zap.enqueue(hash, {});
  // @ts-expect-error unknown property
  await zap.enqueue(hash, { path: '/x', extra: true });

  // By name.
  await zap.enqueue('hash-file', { path: '/x' });
  await zap.enqueue('send-email', { to: 'a@b.c' });
  // @ts-expect-error input of send-email given to hash-file
  await zap.enqueue('hash-file', { to: 'a@b.c' });
  // @ts-expect-error unknown job name
  await zap.enqueue('hash-files', { path: '/x' });

  // Many.
  await zap.enqueueMany([
    { job: hash, input: { path: '/a' } },
    { job: 'send-email', input: { to: 'x' } },
  ]);
  // @ts-expect-error input does not match the job named in the same item
  await zap.enqueueMany([{ job: 'send-email', input: { path: '/a' } }]);

  // Options.
  // @ts-expect-error runAt is a Date
  await zap.enqueue(hash, { path: '/x' }, { runAt: 'tomorrow' });
}

// An untyped client accepts any name.
const loose = new ZapJobs({ storage });
export async function untypedEnqueue(): Promise<void> {
  await loose.enqueue('anything', { any: 'input' });
  await loose.enqueue(email, { to: 'x' });
  // @ts-expect-error a job object still types its input
  await loose.enqueue(email, { to: 1 });
}

// Handler types come from the schemas.
defineJob({
  name: 'typed-handler',
  input: Type.Object({ n: Type.Number() }),
  output: Type.Object({ doubled: Type.Number() }),
  // @ts-expect-error the handler must return the output type
  handler: async ({ n }) => ({ doubled: String(n) }),
});

type Expect<T extends true> = T;
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export type InputIsInferred = Expect<Equal<InputOf<typeof email>, { to: string }>>;
export type OutputIsInferred = Expect<Equal<OutputOf<typeof hash>, { sha256: string }>>;
