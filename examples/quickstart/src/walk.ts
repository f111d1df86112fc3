import { opendir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Collects up to `max` regular files under `root`, depth first in directory order. Symbolic
 * links are not followed, so a pnpm `node_modules` is walked once through its store.
 */
export async function collectFiles(root: string, max: number): Promise<string[]> {
  const files: string[] = [];
  const pending = [root];

  while (pending.length > 0 && files.length < max) {
    const dir = pending.pop()!;
    let handle: Awaited<ReturnType<typeof opendir>>;
    try {
      handle = await opendir(dir);
    } catch {
      continue; // Unreadable directory: skip it rather than abort the walk.
    }
    const children: string[] = [];
    for await (const entry of handle) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) children.push(path);
      else if (entry.isFile()) {
        files.push(path);
        if (files.length >= max) break;
      }
    }
    pending.push(...children.sort().reverse());
  }
  return files.sort();
}
