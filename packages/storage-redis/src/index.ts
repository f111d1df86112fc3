export type { RedisStorageOptions, RetentionOptions } from './options.js';
export { RedisStorage } from './storage.js';
