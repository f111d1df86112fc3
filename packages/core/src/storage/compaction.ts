/**
 * Checks a `Storage.compactEvents` request, for backends: every backend rejects the same
 * requests with the same errors.
 */
import { InvalidOptionError } from '../errors.js';
import { COMPACTION_KEPT_TYPES, type CompactEventsRequest } from './contract.js';

const KEPT: ReadonlySet<string> = new Set(COMPACTION_KEPT_TYPES);

/**
 * Throws `InvalidOptionError` naming the bad field when `request` breaks
 * {@link CompactEventsRequest}: an empty `types`, a type that is not a non-empty string or is
 * one of {@link COMPACTION_KEPT_TYPES}, a `before` that is not a finite number, or a `limit`
 * that is not an integer from 1.
 */
export function checkCompactEventsRequest(request: CompactEventsRequest): void {
  if (!Array.isArray(request.types) || request.types.length === 0) {
    throw new InvalidOptionError('types', request.types, 'a non-empty array of event types');
  }
  request.types.forEach((type: unknown, index) => {
    if (typeof type !== 'string' || type === '') {
      throw new InvalidOptionError(`types[${index}]`, type, 'a non-empty string');
    }
    if (KEPT.has(type)) {
      throw new InvalidOptionError(
        `types[${index}]`,
        type,
        'a type other than the lifecycle types that compaction keeps (of them only ' +
          '"progress" may be compacted)',
      );
    }
  });
  if (typeof request.before !== 'number' || !Number.isFinite(request.before)) {
    throw new InvalidOptionError('before', request.before, 'a time in epoch milliseconds');
  }
  if (!Number.isInteger(request.limit) || request.limit < 1) {
    throw new InvalidOptionError('limit', request.limit, 'an integer from 1');
  }
}
