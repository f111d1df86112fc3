import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that forwards to one server and imitates a network partition that
 * leaves half-open connections. `blackhole()` stops forwarding on every connection open at
 * that moment, in both directions, without closing any socket, so neither end is notified.
 * Connections opened later are forwarded as usual, as after the network healed.
 */
export class BlackholeProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<{ client: Socket; upstream: Socket; dead: boolean }>();
  #port = 0;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Starts a proxy to `host:port` on a free port of 127.0.0.1. */
  static async start(target: { host: string; port: number }): Promise<BlackholeProxy> {
    const proxy = new BlackholeProxy(target);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = proxy.#server.address();
    if (address === null || typeof address === 'string') {
      throw new Error('the proxy has no TCP address; it listens on 127.0.0.1 only');
    }
    proxy.#port = address.port;
    return proxy;
  }

  /** Port of the proxy on 127.0.0.1. */
  get port(): number {
    return this.#port;
  }

  /** Connections open now that still forward bytes. */
  get liveConnections(): number {
    let live = 0;
    for (const pair of this.#pairs) if (!pair.dead) live++;
    return live;
  }

  /**
   * Stops forwarding on every open connection and returns how many it silenced. Bytes that
   * arrive later on them are read and dropped, so no sender gets back pressure.
   */
  blackhole(): number {
    let silenced = 0;
    for (const pair of this.#pairs) {
      if (pair.dead) continue;
      pair.dead = true;
      pair.client.unpipe(pair.upstream);
      pair.upstream.unpipe(pair.client);
      pair.client.on('data', () => {});
      pair.upstream.on('data', () => {});
      silenced++;
    }
    return silenced;
  }

  /** Stops accepting and destroys every connection, silenced or not. */
  async close(): Promise<void> {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.#pairs.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const upstream = createConnection(this.#target);
    const pair = { client, upstream, dead: false };
    this.#pairs.add(pair);
    const drop = () => {
      // A silenced connection stays open, so that neither end is notified of its loss.
      if (pair.dead) return;
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/**
 * Returns what `promise` resolves to, or fails with a message naming `description` when it has
 * not settled within `ms`.
 */
export async function settleWithin<T>(
  description: string,
  promise: Promise<T>,
  ms: number,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${description} did not return within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
