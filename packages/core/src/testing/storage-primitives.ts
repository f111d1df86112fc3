import { describe } from 'vitest';
import type { ConformanceOptions } from './options.js';

/** Registers the tests of every storage primitive. */
export function describeStoragePrimitives(options: ConformanceOptions): void {
  describe(`${options.name} storage primitives`, () => {});
}
