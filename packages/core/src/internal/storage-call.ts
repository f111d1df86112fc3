import { StorageError, ZapJobsError } from '../errors.js';
import type { Storage } from '../storage/contract.js';

/**
 * Runs a storage operation and wraps an infrastructure failure in StorageError, which names
 * the backend and the operation. A ZapJobsError passes through unchanged.
 */
export async function callStorage<T>(
  storage: Storage,
  operation: string,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ZapJobsError) throw error;
    throw new StorageError(storage.name, operation, error);
  }
}
