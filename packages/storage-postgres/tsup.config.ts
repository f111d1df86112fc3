import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // Migrations live in src/sql/*.sql and are bundled into the output as strings.
  loader: { '.sql': 'text' },
});
