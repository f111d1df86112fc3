import type { ClaimedRun } from '@zapjobs/core/storage';
import { describe, expect, it } from 'vitest';
import { inClaimOrder } from '../src/internal/rows.js';

/** Makes a claimed run with only the fields the ordering reads. */
function claimed(id: string, leaseToken: string): ClaimedRun {
  return { id, leaseToken } as ClaimedRun;
}

describe('claim order', () => {
  it('sorts runs by token position', () => {
    const prefix = '0b6f3a54-3c39-4d0e-9a53-2f8f1d1c7b11';
    const runs = [2, 10, 1, 3].map((n) => claimed(`run-${n}`, `${prefix}.${n}`));
    expect(inClaimOrder(runs).map((run) => run.id)).toEqual(['run-1', 'run-2', 'run-3', 'run-10']);
  });

  it('keeps runs already in order', () => {
    const runs = [1, 2, 3].map((n) => claimed(`run-${n}`, `p.${n}`));
    const ordered = inClaimOrder(runs);
    expect(ordered).toBe(runs);
    expect(ordered.map((run) => run.id)).toEqual(['run-1', 'run-2', 'run-3']);
  });

  it('keeps an empty claim', () => {
    expect(inClaimOrder([])).toEqual([]);
  });
});
