import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

async function portIsFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Returns a free localhost port whose cluster bus port (port + 10000) is free as well, from a
 * range the shared servers do not use.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 21_000 + Math.floor(Math.random() * 9_000);
    if ((await portIsFree(port)) && (await portIsFree(port + 10_000))) return port;
  }
  throw new Error('No free port pair found between 21000 and 30000 for a private redis-server');
}

/** A private redis-server on a temporary directory, which a test may stop and start again. */
export class PrivateRedis {
  readonly port: number;
  readonly dir: string;
  readonly #args: string[];
  #process: ChildProcess | null = null;

  private constructor(port: number, dir: string, args: string[]) {
    this.port = port;
    this.dir = dir;
    this.#args = args;
  }

  /** Creates the directory and starts the server with extra `redis-server` arguments. */
  static async start(args: string[] = []): Promise<PrivateRedis> {
    const dir = await mkdtemp(join(tmpdir(), 'zapjobs-redis-'));
    const server = new PrivateRedis(await freePort(), dir, args);
    await server.startAgain();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server on the same port and directory, and waits until it replies to PING. */
  async startAgain(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--logfile',
        join(this.dir, 'redis.log'),
        ...this.#args,
      ],
      { stdio: 'ignore' },
    );
    this.#process = child;
    await waitForPing(this.port, child);
  }

  /** Stops the server: SIGKILL loses what was not on disk yet, SIGTERM shuts down cleanly. */
  async stop(signal: 'SIGKILL' | 'SIGTERM' = 'SIGTERM'): Promise<void> {
    const child = this.#process;
    this.#process = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** Stops the server and deletes its directory. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function waitForPing(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`redis-server on port ${port} exited with code ${child.exitCode}`);
    }
    const probe = new Redis(port, '127.0.0.1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      // A server loading its AOF replies to PING with a LOADING error until it is ready.
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
    await sleep(50);
  }
}

/** A three-master Redis Cluster on private localhost ports, without replicas. */
export class PrivateCluster {
  readonly servers: PrivateRedis[];

  private constructor(servers: PrivateRedis[]) {
    this.servers = servers;
  }

  static async start(): Promise<PrivateCluster> {
    const servers: PrivateRedis[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        servers.push(
          await PrivateRedis.start([
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '5000',
            '--save',
            '',
            '--appendonly',
            'no',
          ]),
        );
      }
      const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
      await run('redis-cli', [
        '--cluster',
        'create',
        ...addresses,
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]);
      const cluster = new PrivateCluster(servers);
      await cluster.#waitUntilReady();
      return cluster;
    } catch (error) {
      for (const server of servers) await server.destroy();
      throw error;
    }
  }

  get nodes(): Array<{ host: string; port: number }> {
    return this.servers.map((server) => ({ host: '127.0.0.1', port: server.port }));
  }

  async destroy(): Promise<void> {
    for (const server of this.servers) await server.destroy();
  }

  async #waitUntilReady(): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (const server of this.servers) {
      const client = new Redis(server.port, '127.0.0.1');
      try {
        for (;;) {
          const info = (await client.cluster('INFO')) as string;
          if (info.includes('cluster_state:ok')) break;
          if (Date.now() > deadline) throw new Error('Redis Cluster did not reach state ok');
          await sleep(100);
        }
      } finally {
        client.disconnect();
      }
    }
  }
}
