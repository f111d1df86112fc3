/**
 * The storage contract, for backend authors: `@zapjobs/core/storage`.
 */

export * from './errors.js';
export { assertKnownKeys, assertPlainObject } from './internal/check.js';
export * from './storage/compaction.js';
export * from './storage/contract.js';
export * from './tenancy/errors.js';
