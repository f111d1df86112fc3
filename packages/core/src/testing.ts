/**
 * The conformance suite every storage backend runs: `@zapjobs/core/testing`.
 *
 * Call {@link runConformanceSuite} from a vitest test file of the backend's package.
 */
import { describeFlow } from './testing/flow.js';
import type { ConformanceOptions } from './testing/options.js';
import { describeRelayAndHistory } from './testing/relay-suite.js';
import { describeRuntime } from './testing/runtime.js';
import { describeStoragePrimitives } from './testing/storage-primitives.js';

export { BlackholeProxy, settleWithin } from './testing/blackhole-proxy.js';
export type { ConformanceOptions, StorageHandle } from './testing/options.js';

/**
 * Registers the whole conformance suite with vitest for one backend: the storage primitives,
 * then the client and worker runtime on top of them. The multi-process tests spawn the
 * built child worker script, so build `@zapjobs/core` before running the suite.
 */
export function runConformanceSuite(options: ConformanceOptions): void {
  describeStoragePrimitives(options);
  describeRuntime(options);
  describeFlow(options);
  describeRelayAndHistory(options);
}
