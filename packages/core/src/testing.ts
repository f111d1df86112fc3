/**
 * The conformance suite every storage backend runs: `@zapjobs/core/testing`.
 *
 * Call {@link runConformanceSuite} from a vitest test file of the backend's package.
 */
import type { ConformanceOptions } from './testing/options.js';
import { describeStoragePrimitives } from './testing/storage-primitives.js';

export type { ConformanceOptions, StorageHandle } from './testing/options.js';

/** Registers the whole conformance suite with vitest for one backend. */
export function runConformanceSuite(options: ConformanceOptions): void {
  describeStoragePrimitives(options);
}
