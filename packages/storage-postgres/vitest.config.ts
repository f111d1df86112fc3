import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [
    {
      // Imports src/sql/*.sql as text, as tsup's text loader does in the build.
      name: 'sql-as-text',
      transform(code, id) {
        if (!id.endsWith('.sql')) return null;
        return { code: `export default ${JSON.stringify(code)};`, map: null };
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
