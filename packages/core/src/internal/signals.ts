/**
 * Process signal handling of a worker: the first SIGTERM or SIGINT starts a graceful stop, the
 * second forces it.
 */
import type { Logger } from '../logger.js';

/** Installs the handlers and returns a function that removes them. */
export function installSignalHandlers(
  workerId: string,
  logger: Logger,
  stop: (force: boolean) => Promise<void>,
): () => void {
  let received = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    received++;
    const force = received > 1;
    if (force) {
      logger.warn({ signal }, `Worker ${workerId} received ${signal} again; forcing the stop`);
    } else {
      logger.info(
        { signal },
        `Worker ${workerId} received ${signal}; stopping gracefully. Send it again to force.`,
      );
    }
    stop(force).catch((error: unknown) =>
      logger.error({ err: error }, `Worker ${workerId} failed to stop after ${signal}`),
    );
  };

  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
