import { loadConfig } from '@lr/config';
import { createApiKey } from '@lr/db';
import { openMessageQueues } from '@lr/jobs';
import { createLogger } from '@lr/log';
import { freshDatabase, TEST_PII_KEY } from '@lr/testing';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { buildApp } from '../src/app';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, admin, auth, categoryBody, expectError, INBOX_SECRET, startTestApp, type App, type TestApp } from './harness';

const opened: TestApp[] = [];
afterAll(async () => {
  for (const testApp of opened.splice(0).reverse()) await testApp.close();
});

async function start(extraEnv: Record<string, string> = {}): Promise<TestApp> {
  const testApp = await startTestApp(extraEnv);
  opened.push(testApp);
  return testApp;
}

/** The inline `<script>` blocks of a page that a browser would run (a JSON data block is not run). */
function inlineScripts(html: string): string[] {
  return [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)]
    .filter(([, attributes]) => !/\bsrc=/i.test(attributes!) && !/type=["']application\/json["']/i.test(attributes!))
    .map(([whole]) => whole)
    .filter((script) => !/^<script\b[^>]*>\s*<\/script>$/i.test(script));
}

describe('security headers (helmet)', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await start());
  });

  it('puts the usual headers on a JSON API response, with a policy that allows no sources at all', async () => {
    for (const res of [
      await app.inject({ method: 'GET', url: '/v1/categories', headers: admin }),
      await app.inject({ method: 'GET', url: '/v1/categories' }), // 401
      await app.inject({ method: 'GET', url: '/no/such/route' }), // 404
    ]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
      expect(res.headers['x-dns-prefetch-control']).toBe('off');
      expect(res.headers['x-permitted-cross-domain-policies']).toBe('none');
      expect(res.headers['x-powered-by']).toBeUndefined();
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
    }
  });

  it('lets swagger-ui run at /docs: its own scripts and styles, no inline script, no upgrade to HTTPS', async () => {
    const page = await app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(inlineScripts(page.body)).toEqual([]);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self' https: 'unsafe-inline'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    // The scripts it loads, and the document it reads, are served.
    for (const src of [...page.body.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]!)) {
      const script = await app.inject({ method: 'GET', url: new URL(src, 'http://x/docs').pathname });
      expect(script.statusCode, src).toBe(200);
    }
    expect((await app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
  });

  it('lets the bull-board dashboard run at /admin/queues', async () => {
    const page = await app.inject({ method: 'GET', url: '/admin/queues', headers: admin });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(inlineScripts(page.body)).toEqual([]);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self' https: 'unsafe-inline'"); // inline styles, Google Fonts stylesheet
    expect(csp).toContain("font-src 'self' https: data:");
    expect(csp).not.toContain('upgrade-insecure-requests');
    const api = await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: admin });
    expect(api.statusCode).toBe(200);
  });
});

describe('rate limit (RATE_LIMIT_PER_MINUTE=5)', () => {
  let testApp: TestApp;
  let app: App;
  let viewerKey: string;
  beforeAll(async () => {
    testApp = await start({ RATE_LIMIT_PER_MINUTE: '5' });
    app = testApp.app;
    viewerKey = (await createApiKey(testApp.database.db, 'county office', 'viewer')).key;
  });

  it('answers the 6th request of one key with 429 in the contract shape and Retry-After; another key goes on', async () => {
    for (let i = 1; i <= 5; i++) {
      const res = await app.inject({ method: 'GET', url: '/v1/categories', headers: admin });
      expect(res.statusCode, `request ${i}`).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBe('5');
      expect(res.headers['x-ratelimit-remaining']).toBe(String(5 - i));
    }
    const limited = await app.inject({ method: 'GET', url: '/v1/categories', headers: admin });
    const error = expectError(limited, 429, 'rate_limited');
    expect(error.message).toMatch(/at most 5 a minute/);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers['x-content-type-options']).toBe('nosniff');
    // The limit is per key, whichever route: a write of the same key is limited too.
    expectError(await app.inject({ method: 'POST', url: '/v1/scans', headers: admin, payload: {} }), 429, 'rate_limited');
    // Another key has a count of its own.
    expect((await app.inject({ method: 'GET', url: '/v1/categories', headers: auth(viewerKey) })).statusCode).toBe(200);
  });

  it('counts requests without a key by address, before asking who they are', async () => {
    for (let i = 1; i <= 5; i++) expectError(await app.inject({ method: 'GET', url: '/v1/reminders' }), 401, 'unauthorized');
    expectError(await app.inject({ method: 'GET', url: '/v1/reminders' }), 429, 'rate_limited');
    expectError(await app.inject({ method: 'GET', url: '/nothing-here' }), 429, 'rate_limited');
    // Another address is a bucket of its own.
    expectError(await app.inject({ method: 'GET', url: '/v1/reminders', remoteAddress: '10.1.2.3' }), 401, 'unauthorized');
  });

  it('counts tokens nobody issued by address, so that a new made-up key per request gains nothing', async () => {
    const from = { remoteAddress: '10.9.9.9' };
    const key = (await createApiKey(testApp.database.db, 'desk behind the same router', 'viewer')).key;
    expect((await app.inject({ method: 'GET', url: '/v1/categories', headers: auth(key), ...from })).statusCode).toBe(200);
    for (let i = 1; i <= 5; i++) {
      expectError(await app.inject({ method: 'GET', url: '/v1/categories', headers: auth(`made-up-key-${i}-0123456789abcdef`), ...from }), 401);
    }
    expectError(await app.inject({ method: 'GET', url: '/v1/categories', headers: auth('made-up-key-6-0123456789abcdef'), ...from }), 429, 'rate_limited');
    // A key in use from the same address, and a valid platform token, have counts of their own.
    expect((await app.inject({ method: 'GET', url: '/v1/categories', headers: auth(key), ...from })).statusCode).toBe(200);
    // A key this API has not seen in the last minute is not looked up for an address over its
    // count (that look-up is what made-up keys would cost): it waits for the address's minute.
    const unseen = (await createApiKey(testApp.database.db, 'desk not used lately', 'viewer')).key;
    expectError(await app.inject({ method: 'GET', url: '/v1/categories', headers: auth(unseen), ...from }), 429, 'rate_limited');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('hn-app-rate-1').setExpirationTime('1h').sign(new TextEncoder().encode(INBOX_SECRET));
    expect((await app.inject({ method: 'GET', url: '/v1/inbox', headers: auth(token), ...from })).statusCode).toBe(200);
  });

  it('never limits health, readiness and Twilio status callbacks', async () => {
    for (let i = 0; i < 12; i++) {
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      const callback = await app.inject({
        method: 'POST',
        url: '/webhooks/twilio/status',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'bad' },
        payload: 'MessageSid=SM1&MessageStatus=delivered',
      });
      expectError(callback, 403, 'bad_signature');
    }
  });

  it('keeps its counters in Redis under the queue prefix, so API replicas share them', async () => {
    // A licensee's platform token: both APIs know it without a database (each test API has its own).
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('hn-app-replica').setExpirationTime('1h').sign(new TextEncoder().encode(INBOX_SECRET));
    for (let i = 1; i <= 5; i++) {
      expect((await app.inject({ method: 'GET', url: '/v1/inbox', headers: auth(token), remoteAddress: '10.8.8.8' })).statusCode).toBe(200);
    }
    const keys = await testApp.queueRedis.client.keys(`${testApp.queueRedis.prefix}:rate:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((key) => !/:rate:(key:[\w-]{32}|ip:[\w.:]+)$/.test(key))).toEqual([]);
    // A second API on the same Redis and prefix sees the same count.
    const replica = await start({ RATE_LIMIT_PER_MINUTE: '5', QUEUE_PREFIX: testApp.queueRedis.prefix });
    expectError(await replica.app.inject({ method: 'GET', url: '/v1/inbox', headers: auth(token), remoteAddress: '10.8.8.8' }), 429, 'rate_limited');
    // Not by address: another licensee from that address goes on.
    const other = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('hn-app-replica-2').setExpirationTime('1h').sign(new TextEncoder().encode(INBOX_SECRET));
    expect((await replica.app.inject({ method: 'GET', url: '/v1/inbox', headers: auth(other), remoteAddress: '10.8.8.8' })).statusCode).toBe(200);
  });
});

describe('rate limit behind a proxy (TRUST_PROXY)', () => {
  /** Unauthenticated requests are counted by address: 5 answered 401, then 429. */
  async function statuses(app: App, requests: { remoteAddress: string; forwardedFor?: string }[]): Promise<number[]> {
    const out: number[] = [];
    for (const { remoteAddress, forwardedFor } of requests) {
      const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
      out.push((await app.inject({ method: 'GET', url: '/v1/reminders', remoteAddress, headers })).statusCode);
    }
    return out;
  }
  const times = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

  it('counts each client behind the trusted proxy by its X-Forwarded-For address', async () => {
    // As docker-compose.yml sets it: the proxy is on the containers' private network.
    const { app } = await start({ RATE_LIMIT_PER_MINUTE: '5', TRUST_PROXY: 'uniquelocal' });
    const proxy = '172.18.0.5';
    expect(await statuses(app, times(6, () => ({ remoteAddress: proxy, forwardedFor: '203.0.113.7' })))).toEqual([401, 401, 401, 401, 401, 429]);
    // Another client through the same proxy has a count of its own; the proxy's address is no bucket.
    expect(await statuses(app, [{ remoteAddress: proxy, forwardedFor: '203.0.113.8' }])).toEqual([401]);
    // A client's own X-Forwarded-For entries before the proxy's are not believed: the last one counts.
    expect(await statuses(app, [{ remoteAddress: proxy, forwardedFor: '198.51.100.1, 203.0.113.7' }])).toEqual([429]);
  });

  it('believes X-Forwarded-For only from the addresses TRUST_PROXY names', async () => {
    const { app } = await start({ RATE_LIMIT_PER_MINUTE: '5', TRUST_PROXY: '10.0.0.2, 10.0.1.0/24' });
    // Two proxies, one client: the client's count is one, whichever proxy it came through.
    expect(await statuses(app, times(6, (i) => ({ remoteAddress: i % 2 ? '10.0.0.2' : '10.0.1.7', forwardedFor: '203.0.113.9' })))).toEqual([
      401, 401, 401, 401, 401, 429,
    ]);
    expect(await statuses(app, [{ remoteAddress: '10.0.0.2', forwardedFor: '203.0.113.10' }])).toEqual([401]);
    // From elsewhere the header is the sender's own say-so: each new value gains nothing.
    expect(await statuses(app, times(6, (i) => ({ remoteAddress: '192.0.2.10', forwardedFor: `203.0.113.${20 + i}` })))).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it('ignores X-Forwarded-For by default (TRUST_PROXY=off), so a client cannot pick a fresh address per request', async () => {
    const { app } = await start({ RATE_LIMIT_PER_MINUTE: '5' });
    expect(await statuses(app, times(6, (i) => ({ remoteAddress: '10.3.3.3', forwardedFor: `203.0.113.${40 + i}` })))).toEqual([401, 401, 401, 401, 401, 429]);
  });
});

describe('rate limit without Redis', () => {
  it('lets requests through uncounted while Redis is unreachable, rather than holding them', async () => {
    const database = await freshDatabase();
    // Nothing listens on port 1: the connection keeps failing and reconnecting.
    const redis = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    redis.on('error', () => undefined);
    const queues = openMessageQueues(redis, 'lr-test-no-redis');
    for (const queue of [queues.sms, queues.push]) queue.on('error', () => undefined);
    try {
      const config = loadConfig('api', {
        DATABASE_URL: database.url,
        INBOX_JWT_SECRET: INBOX_SECRET,
        PII_KEY: TEST_PII_KEY,
        ADMIN_API_KEY: ADMIN_KEY,
        RATE_LIMIT_PER_MINUTE: '1',
      });
      const app = await buildApp({ config, db: database.db, cancelBackend: database.cancelBackend, redis, queues, log: createLogger('test', 'silent') });
      try {
        await app.ready();
        for (let i = 0; i < 50 && redis.status !== 'reconnecting'; i++) await new Promise((resolve) => setTimeout(resolve, 20));
        // Three requests under a limit of one a minute, all answered: the limit is not applied
        // while Redis is away. A limiter that asked Redis anyway would wait for ever here (the
        // client retries without end); the bound is only there to fail fast rather than at the
        // test's time-out, and is wide enough for a slow machine.
        for (let i = 0; i < 3; i++) {
          const started = performance.now();
          expect((await app.inject({ method: 'GET', url: '/v1/categories', headers: admin })).statusCode).toBe(200);
          expect(performance.now() - started).toBeLessThan(5_000);
        }
      } finally {
        await app.close();
      }
    } finally {
      redis.disconnect();
      await database.drop();
    }
  });
});

describe('hostile bodies', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await start({ RATE_LIMIT_PER_MINUTE: '1000000' }));
  });

  const json = (url: string, payload: string, method: 'POST' | 'PATCH' = 'POST') =>
    app.inject({ method, url, headers: { ...admin, 'content-type': 'application/json' }, payload });

  it.each([
    ['unclosed, 100,000 levels deep', '['.repeat(100_000)],
    ['closed, 100,000 levels deep', `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
    ['objects, 100,000 levels deep', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`],
    ['a deep value inside the expected shape', `{"licenses":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`],
    ['a deep value with a __proto__ key, which makes the parser walk the whole tree', `{"licenses":[${'{"__proto__":'.repeat(50_000)}1${'}'.repeat(50_000)}]}`],
  ])('answers JSON %s with a 4xx in the contract shape, quickly', async (_name, payload) => {
    for (const [url, method] of [
      ['/v1/licenses/batch', 'POST'],
      ['/v1/categories', 'POST'],
      ['/v1/categories/food', 'PATCH'],
      ['/v1/scans', 'POST'],
    ] as const) {
      const started = performance.now();
      const res = await json(url, payload, method);
      expect(res.statusCode, `${method} ${url}: ${res.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, `${method} ${url}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
      expectError(res, res.statusCode);
      expect(performance.now() - started, `${method} ${url}`).toBeLessThan(5000);
    }
  });

  it.each([
    ['leadDays', '{"code":"huge-array","leadDays":[%s]}', '/v1/categories', 'POST'],
    ['channels', '{"channels":[%s]}', '/v1/categories/food', 'PATCH'],
    ['asOf', '{"asOf":[%s]}', '/v1/scans', 'POST'],
    ['licenses', '{"licenses":[%s]}', '/v1/licenses/batch', 'POST'],
  ] as const)('answers a million-element array in %s with a 4xx, quickly and briefly', async (_field, template, url, method) => {
    const payload = template.replace('%s', Array.from({ length: 1_000_000 }, () => '"x"').join(','));
    expect(payload.length).toBeLessThan(8 * 1024 * 1024);
    const started = performance.now();
    const res = await json(url, payload, method);
    expect(res.statusCode, res.body.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(res.statusCode, res.body.slice(0, 300)).toBeLessThan(500);
    expectError(res, res.statusCode);
    expect(res.body.length).toBeLessThan(1024 * 1024);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('refuses a body over 8 MiB with 413', async () => {
    const res = await json('/v1/licenses/batch', `{"licenses":["${'x'.repeat(9 * 1024 * 1024)}"]}`);
    expectError(res, 413, 'body_too_large');
  });
});

describe('errors written outside our handlers', () => {
  let app: App;
  let testApp: TestApp;
  beforeAll(async () => {
    testApp = await start();
    app = testApp.app;
  });

  it('answers a URL that does not decode, and an over-long path parameter, in the contract shape', async () => {
    expectError(await app.inject({ method: 'GET', url: '/v1/categories/%', headers: admin }), 400, 'bad_url');
    expectError(await app.inject({ method: 'GET', url: `/v1/categories/${'x'.repeat(500)}`, headers: admin }), 414, 'uri_too_long');
  });

  it("answers the dashboard API's errors in the contract shape, keeping bull-board's key for its page", async () => {
    const missing = await app.inject({ method: 'GET', url: '/admin/queues/api/queues/no-such-queue/1', headers: admin });
    const error = expectError(missing, 404, 'queue_not_found') as unknown as Record<string, unknown>;
    expect(error.key).toBe('ERRORS.QUEUE_NOT_FOUND');
    const empty = await app.inject({
      method: 'PUT',
      url: '/admin/queues/api/queues/sms/pause',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '',
    });
    expectError(empty, 400, 'bad_request');
    // A move the job's state does not allow is the client's conflict; an unknown job set is refused.
    await testApp.queues.sms.add('sms', { messageId: 1 }, { jobId: 'sms-1' });
    const promote = expectError(await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/sms/sms-1/promote', headers: admin }), 409, 'conflict');
    expect(promote.message).toMatch(/not in the delayed state/);
    expectError(await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/sms/clean/sms-1', headers: admin }), 400, 'bad_request');
    expect((await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/sms/clean/completed', headers: admin })).statusCode).toBe(200);
    // bull-board decodes these query values once more; one that does not decode is refused first.
    for (const url of ['/admin/queues/api/queues?activeQueue=%25', '/admin/queues/api/job-schedulers?queueName=%25E0%25A4%25A']) {
      expectError(await app.inject({ method: 'GET', url, headers: admin }), 400, 'bad_request');
    }
  });
});

describe('input PostgreSQL cannot take', () => {
  let app: App;
  beforeAll(async () => {
    ({ app } = await start());
  });

  // Ajv coerces "Infinity" and "1e309" to numbers that pass integer, minimum and maximum.
  it.each([
    ['GET', '/v1/licenses/Infinity', undefined, 'params.id'],
    ['GET', '/v1/licenses/1e309', undefined, 'params.id'],
    ['GET', '/v1/reminders?limit=Infinity', undefined, 'querystring.limit'],
    ['GET', '/v1/licenses?limit=-Infinity', undefined, 'querystring.limit'],
    ['POST', '/v1/categories', { ...categoryBody('infinite'), leadDays: ['Infinity'] }, 'leadDays.0'],
  ] as const)('answers %s %s with 400 naming the field', async (method, url, payload, field) => {
    const res = await app.inject({ method, url, headers: admin, payload });
    expect(expectError(res, 400, 'invalid_request').details).toEqual([{ field, message: 'must be a finite number' }]);
  });

  it('refuses an inbox token whose user id holds a NUL character (PostgreSQL cannot compare it) with 401', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('user\u0000x').setExpirationTime('1h').sign(new TextEncoder().encode(INBOX_SECRET));
    expectError(await app.inject({ method: 'GET', url: '/v1/inbox', headers: auth(token) }), 401, 'unauthorized');
  });
});
