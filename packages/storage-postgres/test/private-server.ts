import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Directory of the PostgreSQL 15 server binaries (Debian's postgresql-15 package). */
export const PG_BIN = process.env.ZAPJOBS_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * Checks that the server binaries exist. Under CI=true missing binaries throw, which fails the
 * test file; elsewhere a loud notice is printed and false returned.
 */
export function requireServerBinaries(): boolean {
  if (existsSync(join(PG_BIN, 'initdb')) && existsSync(join(PG_BIN, 'pg_ctl'))) return true;
  const message =
    `initdb and pg_ctl were not found in ${PG_BIN}. Install postgresql-15 or set ` +
    'ZAPJOBS_PG_BIN to the directory of the PostgreSQL server binaries.';
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(
    `\n${'!'.repeat(78)}\n!! ${message}\n!! The private-server tests did NOT run.\n${'!'.repeat(78)}\n`,
  );
  return false;
}

/**
 * A PostgreSQL server of its own on a temporary directory and a free port, for tests that stop
 * or restart the server. The shared test server is never touched.
 *
 * As root, the binaries run as the `postgres` user through `runuser`, because PostgreSQL
 * refuses to run as root; as any other user they run directly.
 */
export class PrivateServer {
  readonly dir: string;
  readonly dataDir: string;
  readonly port: number;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.dataDir = join(dir, 'data');
    this.port = port;
  }

  /** Connection string of the `postgres` database, as the `postgres` superuser. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Creates the cluster with initdb and starts it. */
  static async start(): Promise<PrivateServer> {
    if (!existsSync(join(PG_BIN, 'initdb'))) {
      throw new Error(
        `initdb was not found in ${PG_BIN}. Install postgresql-15 or set ZAPJOBS_PG_BIN to ` +
          'the directory of the PostgreSQL server binaries.',
      );
    }
    const dir = mkdtempSync('/tmp/zapjobs-pg-');
    if (isRoot()) chownSync(dir, ...postgresIds());
    const server = new PrivateServer(dir, await freePort());
    await server.exec('initdb', [
      '-D',
      server.dataDir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    await server.startServer();
    return server;
  }

  /** Stops the server (fast shutdown: open sessions are terminated). */
  async stop(): Promise<void> {
    await this.exec('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', 'stop']);
  }

  /** Stops the server as a crash would (immediate shutdown: recovery runs at the next start). */
  async crash(): Promise<void> {
    await this.exec('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
  }

  /** Starts a stopped server on the same port. */
  async startServer(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`;
    await this.exec('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      options,
      '-w',
      'start',
    ]);
  }

  /** Stops the server at once if it runs and deletes its directory. */
  async destroy(): Promise<void> {
    await this.exec('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']).catch(
      () => {},
    );
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async exec(binary: string, args: string[]): Promise<void> {
    const path = join(PG_BIN, binary);
    const [command, commandArgs] = isRoot()
      ? ['runuser', ['-u', 'postgres', '--', path, ...args]]
      : [path, args];
    await run(command, commandArgs, { cwd: this.dir, timeout: 60_000 });
  }
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Returns the uid and gid of the `postgres` user. */
function postgresIds(): [number, number] {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return [uid, gid];
}

/** Finds a TCP port on 127.0.0.1 that was free a moment ago. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
