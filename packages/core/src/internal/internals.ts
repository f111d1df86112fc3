import type { ZapJobs } from '../client.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../logger.js';
import type { PluginHooks } from '../plugin.js';
import type { Storage } from '../storage/contract.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { JobRegistry } from './registry.js';

/** Parts of the client that its workers use. */
export interface ClientInternals {
  readonly client: ZapJobs<any>;
  readonly storage: Storage;
  readonly logger: Logger;
  readonly bus: EventBus;
  readonly registry: JobRegistry;
  readonly hooks: PluginHooks;
  readonly maxPayloadBytes: number;
  /** Producer and consumer spans and metrics; no-ops without an OpenTelemetry SDK. */
  readonly telemetry: Telemetry;
  /** Runs `client.init()` once; rejects with ClientClosedError after close. */
  ensureReady(operation: string): Promise<void>;
}
