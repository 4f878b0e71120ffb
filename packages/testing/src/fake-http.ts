import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Date.now() when the request's body was in */
  at: number;
}

export type Reply = { status: number; body?: unknown; delayMs?: number; headers?: Record<string, string> };

export interface FakeHttpServer {
  url: string;
  requests: Recorded[];
  /** replies used in order, one per request; after them, `fallback` answers */
  queueReplies(...replies: Reply[]): void;
  close(): Promise<void>;
}

/** A local HTTP server standing in for an outside provider: records requests, answers as told. */
export async function fakeHttpServer(fallback: (request: Recorded) => Reply): Promise<FakeHttpServer> {
  const requests: Recorded[] = [];
  const queued: Reply[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      requests.push(recorded);
      const reply = queued.shift() ?? fallback(recorded);
      const answer = () => {
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
      };
      // At once, as a provider answers, unless told to wait; connections are kept alive as
      // Node's server keeps them (5 s), so clients reuse them as they would a provider's.
      if (reply.delayMs === undefined) answer();
      else setTimeout(answer, reply.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    queueReplies: (...replies) => queued.push(...replies),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
