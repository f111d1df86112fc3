import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    storage: 'src/storage.ts',
    testing: 'src/testing.ts',
    // Spawned as a separate process by the multi-process conformance tests.
    'testing/worker-child': 'src/testing/worker-child.ts',
  },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['vitest'],
});
