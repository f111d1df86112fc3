/**
 * Run ids are stored as uuid. Core creates them as lowercase UUIDs, and the SQLite and Redis
 * backends compare ids as strings, so only that form names a run here too. Any other string,
 * an uppercase UUID included, names no run: the methods that take one treat it as an unknown
 * run instead of sending it to a uuid parameter, which would reject it.
 */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The nil UUID, which no run may have. The storage sends it in place of a parent id that is
 * not a run id, so that the edge is unmet.
 */
export const NO_RUN = '00000000-0000-0000-0000-000000000000';

/** Checks that `value` has the form of a run id: a lowercase UUID other than the nil UUID. */
export function isRunId(value: string): boolean {
  return value !== NO_RUN && RUN_ID.test(value);
}
