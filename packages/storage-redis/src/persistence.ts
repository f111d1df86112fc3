import type { Logger } from '@zapjobs/core';
import type { Cluster, Redis } from 'ioredis';

/**
 * Warns when the server keeps its data only in memory (`appendonly no` and an empty `save`),
 * because such a server loses every run on restart. Servers that disable CONFIG (managed
 * services often do) are not checked.
 */
export async function checkPersistence(connection: Redis | Cluster, logger: Logger): Promise<void> {
  let appendOnly: string | undefined;
  let save: string | undefined;
  try {
    appendOnly = ((await connection.config('GET', 'appendonly')) as string[])[1];
    save = ((await connection.config('GET', 'save')) as string[])[1];
  } catch (error) {
    logger.debug({ error }, 'CONFIG GET is not available; Redis persistence was not checked');
    return;
  }
  if (appendOnly === 'no' && (save === undefined || save.trim() === '')) {
    logger.warn(
      { appendonly: appendOnly, save: save ?? '' },
      'Redis persistence is off (appendonly no, save ""): a restart of the server loses every ' +
        'run. Enable AOF (appendonly yes) or RDB snapshots (save) on the server.',
    );
  }
}
