/**
 * Inserts a parent edge; a repeated parent of the same child is ignored.
 * Parameters: child id, parent id, position, condition, pass_output (0 or 1), satisfied
 * (null while the parent has not finished, else 0 or 1).
 */
export const INSERT_EDGE = `
INSERT OR IGNORE INTO zapjobs_dependencies
  (child_id, parent_id, position, condition, pass_output, satisfied)
VALUES (?, ?, ?, ?, ?, ?)`;

/**
 * A run's parent edges in declaration order, with each parent's current state.
 * Parameters: child id. Result: edge columns and `parent_state`.
 */
export const LIST_DEPENDENCIES = `
SELECT d.parent_id, d.condition, d.pass_output, d.satisfied, r.state AS parent_state
FROM zapjobs_dependencies d JOIN zapjobs_runs r ON r.id = d.parent_id
WHERE d.child_id = ? ORDER BY d.position`;
