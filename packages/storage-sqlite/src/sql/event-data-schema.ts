/**
 * Version 4: event compaction and the documented lifecycle event data.
 *
 * - `zapjobs_events_compactable`: the events that `compactEvents` may delete (every type but
 *   the lifecycle types it keeps), by time. Lifecycle events, most of every history, stay out
 *   of it, so appending them costs no extra index write. `compactEvents` repeats the index's
 *   WHERE term word for word, which is how SQLite knows that the partial index applies.
 * - Lifecycle event data written before this version gets the shapes that `LifecycleEventType`
 *   documents: `failed` and `retrying` stored the bare error and become `{"error": ...}`
 *   (an old `retrying` has no `delayMs`, which was never stored); a cancellation by a
 *   dependency becomes `{"reason":"dependency"}`; `suspended` gets `{}` and `stalled` gets
 *   `willRetry`, true unless a `failed` event of the same attempt follows it.
 */
export const COMPACTION_KEPT_TYPES_SQL = `('enqueued', 'started', 'completed', 'failed', 'retrying',
  'cancelled', 'stalled', 'released', 'suspended', 'resumed', 'dependencies-met', 'signal')`;

export const eventDataSchema = `
CREATE INDEX zapjobs_events_compactable ON zapjobs_events (at)
  WHERE type NOT IN ${COMPACTION_KEPT_TYPES_SQL};

UPDATE zapjobs_events SET data = json_object('error', json(data))
WHERE type IN ('failed', 'retrying') AND json_valid(data)
  AND json_type(data, '$.error') IS NULL AND json_type(data, '$.manual') IS NULL;

UPDATE zapjobs_events SET data = '{"reason":"dependency"}'
WHERE type = 'cancelled' AND data IS NOT NULL;

UPDATE zapjobs_events SET data = '{}' WHERE type = 'suspended' AND data IS NULL;

UPDATE zapjobs_events SET data = json_set(data, '$.willRetry', json(CASE
    WHEN EXISTS (
      SELECT 1 FROM zapjobs_events AS f
      WHERE f.run_id = zapjobs_events.run_id AND f.type = 'failed'
        AND f.attempt IS zapjobs_events.attempt AND f.id > zapjobs_events.id
    ) THEN 'false' ELSE 'true' END))
WHERE type = 'stalled' AND json_valid(data) AND json_type(data, '$.willRetry') IS NULL;
`;
