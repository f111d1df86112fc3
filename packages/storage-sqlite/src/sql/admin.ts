/**
 * Records a worker or refreshes it, keeping started_at of an existing entry.
 * Parameters: id, hostname, pid, queues (JSON), concurrency, started_at, last_seen_at.
 */
export const REGISTER_WORKER = `
INSERT INTO zapjobs_workers (id, hostname, pid, queues, concurrency, started_at, last_seen_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
  queues = excluded.queues, concurrency = excluded.concurrency,
  last_seen_at = excluded.last_seen_at`;

/**
 * Ids of runs in the listed terminal states that finished before a time, oldest first.
 * Parameters: the states, finished before, max rows. Result: ids.
 */
export function purgeCandidatesSql(list: string): string {
  return `
SELECT id FROM zapjobs_runs
WHERE state IN (${list}) AND finished_at IS NOT NULL AND finished_at < ?
ORDER BY finished_at LIMIT ?`;
}
