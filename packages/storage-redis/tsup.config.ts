import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // The Lua scripts in src/lua are inlined into the bundle as strings.
  loader: { '.lua': 'text' },
});
