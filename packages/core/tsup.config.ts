import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    storage: 'src/storage.ts',
    testing: 'src/testing.ts',
    // Spawned as a separate process by the multi-process conformance tests.
    'testing/worker-child': 'src/testing/worker-child.ts',
    // Spawned by the relay and telemetry conformance tests: a waiter and a traced worker.
    'testing/relay-child': 'src/testing/relay-child.ts',
    'testing/telemetry-child': 'src/testing/telemetry-child.ts',
  },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // The OpenTelemetry SDK is used only by the conformance tests and stays out of the bundle.
  external: ['vitest', /^@opentelemetry\//],
});
