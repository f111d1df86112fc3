/**
 * Embedded SQLite storage for ZapJobs: `new SqliteStorage({ path })`.
 */
export { SqliteStorage, type SqliteStorageOptions } from './storage.js';
