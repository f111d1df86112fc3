/**
 * Inserts one run in its initial state with attempt 0.
 * Parameters: id, job, queue, state, input, priority, max_attempts, run_at, created_at,
 * group_id, partition_key, tenant_id, unique_key, trace_context, history_level, metadata.
 */
export const INSERT_RUN = `
INSERT INTO zapjobs_runs (
  id, job, queue, state, input, priority, attempt, max_attempts, run_at, created_at,
  group_id, partition_key, tenant_id, unique_key, trace_context, history_level, metadata
) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
