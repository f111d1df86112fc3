export type { PostgresStorageOptions } from './options.js';
export { PostgresStorage } from './postgres-storage.js';
