/**
 * Spawns the child scripts of the relay and telemetry conformance tests: a built script of
 * `@zapjobs/core` configured through one environment variable, which reports by printing one
 * JSON object per line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface SpawnedChild {
  child: ChildProcess;
  /** Every JSON line printed so far, parsed. */
  lines: () => Record<string, unknown>[];
  /** Resolves with the first line that has `key`; rejects if the child exits first. */
  line: (key: string) => Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  stderr: () => string;
  kill: () => Promise<void>;
}

/** Path of a built child script, such as `relay-child`, next to the built suite. */
function childScriptPath(name: string): string {
  const candidates = [`./testing/${name}.js`, `./${name}.js`].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  );
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) {
    throw new Error(
      `The child script ${name} was not found at ${candidates.join(' or ')}. ` +
        'Build @zapjobs/core first (pnpm --filter @zapjobs/core build).',
    );
  }
  return found;
}

export function spawnChild(name: string, envName: string, config: unknown): SpawnedChild {
  const child = spawn(process.execPath, [childScriptPath(name)], {
    env: { ...process.env, [envName]: JSON.stringify(config) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const parsed: Record<string, unknown>[] = [];
  const waiting: { key: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let newline = buffer.indexOf('\n');
    while (newline !== -1) {
      const text = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      parsed.push(line);
      for (const waiter of waiting.filter((entry) => entry.key in line)) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );

  const line = (key: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = parsed.find((entry) => key in entry);
      if (seen !== undefined) {
        resolve(seen);
        return;
      }
      waiting.push({ key, resolve });
      void exited.then((code) =>
        reject(
          new Error(`Child ${name} exited with code ${code} before printing "${key}":\n${stderr}`),
        ),
      );
    });

  return {
    child,
    lines: () => [...parsed],
    line,
    exited,
    stderr: () => stderr,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
