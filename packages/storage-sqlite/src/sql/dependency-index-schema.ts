/**
 * Version 5: an index on each child's edges by outcome, so settling a child after one of its
 * parents finishes seeks for an unmet or unfinished edge instead of reading every edge. Without
 * it, a fan-in run with N parents costs O(N) per parent and O(N^2) in all.
 */
export const dependencyIndexSchema = `
CREATE INDEX zapjobs_dependencies_child_outcome
  ON zapjobs_dependencies (child_id, satisfied);
`;
