/**
 * What a request may cost before anyone knows who sent it: the key and role are checked from
 * the headers before the body is read, bodies are capped per route, a stalled request is
 * dropped, and the rate limit decides without asking the database.
 */
import { createApiKey } from '@lr/db';
import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, categoryBody, expectError, startTestApp, type TestApp } from './harness';

const opened: TestApp[] = [];
afterAll(async () => {
  for (const testApp of opened.splice(0).reverse()) await testApp.close();
});

async function listening(extraEnv: Record<string, string> = {}, stallMs?: number): Promise<{ testApp: TestApp; port: number }> {
  const testApp = await startTestApp(extraEnv, { stallMs });
  opened.push(testApp);
  await testApp.app.listen({ host: '127.0.0.1', port: 0 });
  return { testApp, port: (testApp.app.server.address() as AddressInfo).port };
}

interface RawExchange {
  /** what the server sent before it closed the connection or `waitMs` passed */
  received: string;
  /** whether the server closed the connection (before answering, or within `waitMs`) */
  closed: boolean;
  elapsedMs: number;
}

/** Writes `chunks` on a raw connection, then waits up to `waitMs` for the server's answer and close. */
async function rawRequest(port: number, chunks: string[], waitMs: number): Promise<RawExchange> {
  const socket: Socket = connectTcp(port, '127.0.0.1');
  await once(socket, 'connect');
  const started = performance.now();
  let received = '';
  socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
  socket.on('error', () => {});
  let closed = false;
  const close = once(socket, 'close').then(() => (closed = true));
  // A whole JSON answer ends the wait as a close does: the server may keep the connection open.
  const answered = new Promise<void>((resolve) => socket.on('data', () => /\r\n\r\n\{.*\}$/s.test(received) && resolve()));
  for (const chunk of chunks) socket.write(chunk);
  await Promise.race([close, answered, new Promise((resolve) => setTimeout(resolve, waitMs))]);
  // A server that answers and then drops the connection (a 408) closes it just after: a moment to see it.
  if (!closed && received !== '') await Promise.race([close, new Promise((resolve) => setTimeout(resolve, 250))]);
  socket.destroy();
  return { received, closed, elapsedMs: performance.now() - started };
}

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);

describe('who may ask comes first', () => {
  let port: number;
  let viewerKey: string;
  beforeAll(async () => {
    const started = await listening();
    port = started.port;
    viewerKey = (await createApiKey(started.testApp.database.db, 'viewer', 'viewer')).key;
  });

  it('answers 401 to a batch with a wrong key without waiting for its 8 MB body', async () => {
    const exchange = await rawRequest(
      port,
      [
        'POST /v1/licenses/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-key-of-ours-0123456789\r\n' +
          'Content-Type: application/json\r\nContent-Length: 8000000\r\n\r\n{"licenses":[',
      ],
      3000,
    );
    expect(statusOf(exchange.received)).toBe(401);
    expect(exchange.received).toContain('"unauthorized"');
  });

  it("answers 401 to an app user's request without a platform token before its body or query is read", async () => {
    const exchange = await rawRequest(
      port,
      ['POST /v1/inbox/1/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500000\r\n\r\n{'],
      3000,
    );
    expect(statusOf(exchange.received)).toBe(401);
    const badQuery = await fetch(`http://127.0.0.1:${port}/v1/inbox?limit=many`);
    expect(badQuery.status).toBe(401);
  });

  it('answers 403 to a viewer creating a category without waiting for its body', async () => {
    const exchange = await rawRequest(
      port,
      [`POST /v1/categories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${viewerKey}\r\nContent-Type: application/json\r\nContent-Length: 500000\r\n\r\n{`],
      3000,
    );
    expect(statusOf(exchange.received)).toBe(403);
    expect(exchange.received).toContain('"forbidden"');
  });
});

describe('bodies capped per route', () => {
  let testApp: TestApp;
  beforeAll(async () => {
    testApp = await startTestApp();
    opened.push(testApp);
  });

  const json = (bytes: number) => JSON.stringify({ ...categoryBody('big-one'), name: 'x'.repeat(bytes) });

  it('refuses a JSON body over 1 MB with 413, and takes one just under it', async () => {
    const over = await testApp.app.inject({ method: 'POST', url: '/v1/categories', headers: { ...admin, 'content-type': 'application/json' }, payload: json(1_100_000) });
    expectError(over, 413, 'body_too_large');
    // Under the limit, the body is read and judged on its merits (a name this long is invalid).
    const under = await testApp.app.inject({ method: 'POST', url: '/v1/categories', headers: { ...admin, 'content-type': 'application/json' }, payload: json(1_000_000) });
    expectError(under, 400, 'invalid_request');
  });

  it('takes a batch of several megabytes, up to 8 MB', async () => {
    const row = { categoryCode: 'none', licenseNo: 'L', holderName: 'x'.repeat(400) };
    const payload = JSON.stringify({ licenses: Array.from({ length: 6000 }, (_, i) => ({ ...row, licenseNo: `L${i}` })) });
    expect(payload.length).toBeGreaterThan(2 * 1024 * 1024);
    const res = await testApp.app.inject({ method: 'POST', url: '/v1/licenses/batch', headers: { ...admin, 'content-type': 'application/json' }, payload });
    // Read and checked row by row: the unknown category is every row's fault.
    expectError(res, 422);
    const over = JSON.stringify({ licenses: Array.from({ length: 10_000 }, (_, i) => ({ ...row, holderName: 'x'.repeat(900), licenseNo: `L${i}` })) });
    expect(over.length).toBeGreaterThan(8 * 1024 * 1024);
    const refused = await testApp.app.inject({ method: 'POST', url: '/v1/licenses/batch', headers: { ...admin, 'content-type': 'application/json' }, payload: over });
    expectError(refused, 413, 'body_too_large');
  });

  it('refuses a Twilio callback over 64 KB with 413', async () => {
    const payload = new URLSearchParams({ MessageSid: 'SM' + '0'.repeat(32), MessageStatus: 'delivered', Filler: 'x'.repeat(70 * 1024) }).toString();
    const res = await testApp.app.inject({
      method: 'POST',
      url: '/webhooks/twilio/status',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload,
    });
    expectError(res, 413, 'body_too_large');
  });
});

describe('a stalled request is dropped', () => {
  const STALL_MS = 600;
  let port: number;
  let testApp: TestApp;
  beforeAll(async () => {
    ({ port, testApp } = await listening({}, STALL_MS));
  });

  it('drops a connection whose headers stop coming', async () => {
    const exchange = await rawRequest(port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n'], 10 * STALL_MS);
    expect(exchange.closed).toBe(true);
    expect(exchange.elapsedMs).toBeGreaterThanOrEqual(STALL_MS * 0.9);
  });

  it('drops a connection whose body stops coming', async () => {
    const exchange = await rawRequest(
      port,
      ['POST /v1/categories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-admin-key-0123456789abcdef\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"code":'],
      10 * STALL_MS,
    );
    expect(exchange.closed).toBe(true);
    expect(statusOf(exchange.received) || 408).toBe(408);
  });

  it('answers a request that takes longer than that to work out: only the client is timed', async () => {
    const locker = new pg.Client({ connectionString: testApp.database.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table reminders in access exclusive mode');
      const answer = fetch(`http://127.0.0.1:${port}/v1/reminders`, { headers: admin });
      await new Promise((resolve) => setTimeout(resolve, 3 * STALL_MS));
      await locker.query('rollback');
      expect((await answer).status).toBe(200);
    } finally {
      await locker.end();
    }
  });

  it('keeps a connection that sends slowly but steadily', async () => {
    const socket = connectTcp(port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (data: Buffer) => (received += data.toString()));
    const head = 'GET /healthz HTTP/1.1\r\nHost: x\r\n';
    for (const part of [head.slice(0, 10), head.slice(10), 'Connection: close\r\n']) {
      socket.write(part);
      await new Promise((resolve) => setTimeout(resolve, STALL_MS / 3));
    }
    socket.write('\r\n');
    await once(socket, 'close');
    expect(statusOf(received)).toBe(200);
  });
});

describe('the rate limit decides without the database', () => {
  let testApp: TestApp;
  let locker: pg.Client;
  beforeAll(async () => {
    testApp = await startTestApp({ RATE_LIMIT_PER_MINUTE: '2' });
    opened.push(testApp);
    locker = new pg.Client({ connectionString: testApp.database.url });
    await locker.connect();
    return () => locker.end();
  });

  /** Holds every look-up of an API key until the returned release is called. */
  async function holdKeyLookups(): Promise<() => Promise<void>> {
    await locker.query('begin');
    await locker.query('lock table api_keys in access exclusive mode');
    return async () => void (await locker.query('rollback'));
  }

  const withKey = (key: string) => testApp.app.inject({ method: 'GET', url: '/v1/categories', headers: auth(key) });

  it('counts made-up keys against their address and refuses them once over, while key look-ups are held', async () => {
    expectError(await withKey('made-up-key-number-one-0123456789'), 401);
    const release = await holdKeyLookups();
    try {
      // The same wrong key again: remembered as unknown, so answered without a look-up.
      const again = await Promise.race([withKey('made-up-key-number-one-0123456789'), timeout(2000)]);
      expectError(again, 401);
      expectError(await Promise.race([withKey('made-up-key-number-two-0123456789'), timeout(2000)]), 429, 'rate_limited');
      // A new made-up key each time changes nothing: the address is over its count.
      expectError(await Promise.race([withKey('made-up-key-number-three-012345678'), timeout(2000)]), 429, 'rate_limited');
    } finally {
      await release();
    }
  });
});

/** Rejects after `ms`: a request held by the database fails the test instead of hanging it. */
function timeout(ms: number): Promise<never> {
  return new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms));
}
