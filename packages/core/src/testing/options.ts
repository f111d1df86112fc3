import type { Storage } from '../storage/contract.js';

/** A fresh, isolated, migrated storage and the data another process needs to open it. */
export interface StorageHandle {
  storage: Storage;
  /** JSON-serializable; passed to the `open` export of `openModule` in child processes. */
  descriptor: unknown;
}

export interface ConformanceOptions {
  /** Backend name shown in test titles. */
  name: string;
  /** Creates an empty, migrated storage isolated from every other test (own file or schema). */
  create(): Promise<StorageHandle>;
  /** Opens another connection to the storage a descriptor names, in this process. */
  open(descriptor: unknown): Promise<Storage>;
  /**
   * Absolute path of an ES module exporting `open(descriptor): Promise<Storage>`, imported by
   * child worker processes in the multi-process tests.
   */
  openModule: string;
  /** Removes what `create` made, after the storage was closed. */
  destroy?(descriptor: unknown): Promise<void>;
}
