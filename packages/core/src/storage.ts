/**
 * The storage contract, for backend authors: `@zapjobs/core/storage`.
 */

export * from './errors.js';
export * from './storage/contract.js';
