import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '../src/index.js';

/** What another connection or process needs to open a test database. */
export interface SqliteDescriptor {
  path: string;
  dir: string;
}

/** Creates a migrated storage on a new file in a fresh temporary directory. */
export async function createTempStorage(): Promise<{
  storage: SqliteStorage;
  descriptor: SqliteDescriptor;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'zapjobs-sqlite-'));
  const descriptor = { path: join(dir, 'zapjobs.db'), dir };
  const storage = new SqliteStorage({ path: descriptor.path });
  await storage.migrate();
  return { storage, descriptor };
}

export async function openStorage(descriptor: unknown): Promise<SqliteStorage> {
  const storage = new SqliteStorage({ path: (descriptor as SqliteDescriptor).path });
  await storage.migrate();
  return storage;
}

export function removeTempDir(descriptor: unknown): void {
  rmSync((descriptor as SqliteDescriptor).dir, { recursive: true, force: true });
}
