/**
 * The relay, history and telemetry half of the conformance suite: waiting for run outcomes,
 * the event history API, and OpenTelemetry spans and metrics, on the backend under test.
 */
import { describeHistoryQueries } from './history-queries.js';
import { describeHistoryReplay } from './history-replay.js';
import { describeHistoryRetention } from './history-retention.js';
import type { ConformanceOptions } from './options.js';
import { describeRelayBasics } from './relay-basics.js';
import { describeRelayLeaks } from './relay-leaks.js';
import { describeRelayProcesses } from './relay-processes.js';
import { describeTelemetryProcesses } from './telemetry-processes.js';
import { describeTelemetryTraces } from './telemetry-traces.js';

/** Registers the relay, history and telemetry conformance tests with vitest. */
export function describeRelayAndHistory(options: ConformanceOptions): void {
  describeRelayBasics(options);
  describeRelayLeaks(options);
  describeRelayProcesses(options);
  describeHistoryQueries(options);
  describeHistoryRetention(options);
  describeHistoryReplay(options);
  describeTelemetryTraces(options);
  describeTelemetryProcesses(options);
}
