import { describe, expect, it } from 'vitest';

describe('built package', () => {
  it('error classes keep their names', async () => {
    // Reads the bundle, not the sources, because the bundler renames classes that refer to
    // themselves.
    // A path in a variable, so that typecheck, which may run before the build, does not look
    // for the bundle's types.
    const bundle = '../dist/index.js';
    const exports = (await import(bundle)) as Record<string, unknown>;
    const errorClasses = Object.entries(exports).filter(
      ([, value]) => typeof value === 'function' && value.prototype instanceof Error,
    );
    expect(errorClasses.length).toBeGreaterThan(10);
    for (const [exportName, value] of errorClasses) {
      expect((value as { name: string }).name, exportName).toBe(exportName);
    }
  });
});
