import { createServer, connect as connectTcp, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a server (the machine's PostgreSQL), for tests of a server that
 * stops answering without stopping the server other test files share.
 */
export interface PausableProxy {
  /** the proxy's port on 127.0.0.1 */
  port: number;
  /** `url` with its host and port replaced by the proxy's */
  through(url: string): string;
  /**
   * Stops forwarding: what either side sends is held, unanswered (a server that hangs, a
   * network that drops packets). A new connection is held silent too (`blackhole`), or
   * reset at once (`refuse`).
   */
  pause(newConnections?: 'blackhole' | 'refuse'): void;
  /** Forwards again, what was held first. */
  resume(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server?: Socket;
  /** what the client sent before the server's side was open, or while paused */
  toServer: Buffer[];
  /** what the server sent while paused */
  toClient: Buffer[];
}

export async function pausableProxy(target: { host: string; port: number }): Promise<PausableProxy> {
  let paused: 'blackhole' | 'refuse' | undefined;
  const pairs = new Set<Pair>();

  const flush = (pair: Pair) => {
    if (paused || !pair.server) return;
    for (const chunk of pair.toServer.splice(0)) pair.server.write(chunk);
    for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk);
  };
  const end = (pair: Pair) => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.server?.destroy();
  };
  const openServerSide = (pair: Pair) => {
    const server = connectTcp(target.port, target.host);
    pair.server = server;
    server.on('data', (chunk: Buffer) => {
      if (paused) pair.toClient.push(chunk);
      else pair.client.write(chunk);
    });
    server.on('connect', () => flush(pair));
    server.on('error', () => end(pair));
    server.on('close', () => end(pair));
  };

  const proxy = createServer((client) => {
    if (paused === 'refuse') return void client.resetAndDestroy();
    const pair: Pair = { client, toServer: [], toClient: [] };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (paused || !pair.server || pair.server.connecting) pair.toServer.push(chunk);
      else pair.server.write(chunk);
    });
    client.on('error', () => end(pair));
    client.on('close', () => end(pair));
    if (!paused) openServerSide(pair);
  });
  await new Promise<void>((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = proxy.address() as { port: number };

  return {
    port,
    through(url) {
      const proxied = new URL(url);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(port);
      return proxied.toString();
    },
    pause(newConnections = 'blackhole') {
      paused = newConnections;
    },
    resume() {
      paused = undefined;
      for (const pair of pairs) {
        if (pair.server) flush(pair);
        else openServerSide(pair);
      }
    },
    async close() {
      for (const pair of pairs) end(pair);
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
