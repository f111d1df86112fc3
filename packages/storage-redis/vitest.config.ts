import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [
    {
      // Lua scripts are imported as strings, as the tsup build inlines them.
      name: 'lua-as-text',
      transform(code, id) {
        if (!id.endsWith('.lua')) return null;
        return { code: `export default ${JSON.stringify(code)};`, map: null };
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
