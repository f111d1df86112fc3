import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of a script in test/fixtures. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

export interface Child<T> {
  process: ChildProcess;
  /** The first message the child sends that passes `accept`. */
  message: Promise<T>;
  /** Resolves with the exit code, or the signal name when the child was killed. */
  exit: Promise<number | string>;
}

/**
 * Forks a fixture script with an IPC channel. `message` rejects if the child exits before
 * sending an accepted message, with its stderr in the error.
 */
export function forkFixture<T>(
  name: string,
  args: readonly string[],
  accept: (message: unknown) => boolean = () => true,
): Child<T> {
  const child = fork(fixture(name), [...args], {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const message = new Promise<T>((resolve, reject) => {
    child.on('message', (value) => {
      if (accept(value)) resolve(value as T);
    });
    void exit.then((code) =>
      reject(
        new Error(`Fixture ${name} exited (${code}) without the expected message.\n${stderr}`),
      ),
    );
  });
  return { process: child, message, exit };
}
