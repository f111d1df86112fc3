import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/storage.ts', 'src/testing.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['vitest'],
});
