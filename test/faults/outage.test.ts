import { insertCategory, SCAN_LOCK, type Database } from '@lr/db';
import {
  eventually,
  fakeTwilio,
  freePort,
  freshDatabase,
  freshQueuePrefix,
  pausableProxy,
  privateRedis,
  providerEnv,
  startService,
  TEST_PII_KEY,
  testCategory,
  type ServiceProcess,
} from '@lr/testing';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { CATEGORY, expectEveryMessageQueued, seedDueLicenses, TZ } from './store';

/**
 * Redis or PostgreSQL down (issue 14, contract "Protection"): `/readyz` answers 503 within
 * 3 s naming what is down; requests that need it answer 503 `unavailable` within 5 s
 * instead of hanging; no scan holds its lock while waiting for Redis; when it comes back,
 * work resumes by itself. The services run as real processes, on a Redis of the test's own
 * (stopped, or paused with SIGSTOP) or behind a proxy that stops forwarding to PostgreSQL.
 */
const ADMIN_KEY = 'outage-admin-key-0123456789abcdef';

const running: ServiceProcess[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('SIGKILL')));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

interface World {
  db: Database;
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
}

function env(world: World, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    DATABASE_URL: world.databaseUrl,
    REDIS_URL: world.redisUrl,
    QUEUE_PREFIX: world.prefix,
    REMINDER_TIMEZONE: TZ,
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    ...extra,
  };
}

async function startApi(world: World): Promise<{ url: string; service: ServiceProcess }> {
  const port = await freePort();
  const service = startService(
    'api',
    env(world, { PORT: String(port), ADMIN_API_KEY: ADMIN_KEY, INBOX_JWT_SECRET: 'outage-inbox-secret-0123456789abcdef0123', PII_KEY: TEST_PII_KEY }),
  );
  running.push(service);
  const url = `http://127.0.0.1:${port}`;
  await eventually(() => fetch(`${url}/readyz`).then((r) => (r.ok ? true : undefined), () => undefined), 30_000, 'the API to be ready');
  return { url, service };
}

function startScheduler(world: World): ServiceProcess {
  const service = startService('scheduler', env(world, { SCAN_CRON: '* * * * *', SWEEP_INTERVAL_SECONDS: '1' }));
  running.push(service);
  return service;
}

interface Timed {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  ms: number;
}

/** One request, timed; one that hangs fails the test after 15 s rather than the whole file. */
async function timed(url: string, init: RequestInit = {}): Promise<Timed> {
  const started = performance.now();
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  const ms = Math.round(performance.now() - started);
  return { status: response.status, body: text ? JSON.parse(text) : undefined, ms };
}

const scan = (url: string, asOf: string) =>
  timed(`${url}/v1/scans`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ asOf }),
  });

/** Whether a session of this database holds the scan lock. */
async function scanLockHeld(db: Database): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pg_locks
     where locktype = 'advisory' and objid = ${SCAN_LOCK} and granted
       and database = (select oid from pg_database where datname = current_database())`.execute(db);
  return rows[0]!.n > 0;
}

async function messageStatuses(db: Database): Promise<Record<string, number>> {
  const rows = await db.selectFrom('outgoingMessages').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status').execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

async function redisWorld() {
  const redis = await privateRedis();
  cleanups.push(() => redis.stop());
  const database = await freshDatabase();
  cleanups.push(() => database.drop());
  const world: World = { db: database.db, databaseUrl: database.url, redisUrl: redis.url, prefix: 'lr' };
  return { redis, world };
}

describe('Redis down', { timeout: 120_000 }, () => {
  it('stopped: /readyz names redis within 3 s, a scan answers 503 unavailable within 5 s and holds no lock; back, a scan queues its messages', async () => {
    const { redis, world } = await redisWorld();
    const count = 40;
    const today = await seedDueLicenses(world.db, count);
    const { url, service } = await startApi(world);

    await redis.kill();
    const ready = await timed(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not ready', postgres: true, redis: false, down: ['redis'] });
    expect(ready.ms).toBeLessThan(3_000);

    const refused = await scan(url, today);
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.body).toEqual({ error: { code: 'unavailable', message: expect.stringMatching(/Redis/) } });
    expect(refused.ms).toBeLessThan(5_000);
    expect(await scanLockHeld(world.db)).toBe(false);
    // Not started: nothing written that it could not queue.
    expect(await messageStatuses(world.db)).toEqual({});
    expect(service.output()).toMatch(/Redis is unavailable/);

    await redis.start();
    await eventually(async () => ((await timed(`${url}/readyz`)).status === 200 ? true : undefined), 15_000, '/readyz to be 200 again');
    expect(service.output()).toMatch(/Redis is available again/);
    const done = await scan(url, today);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toMatchObject({ status: 'succeeded', remindersCreated: count, messagesQueued: count });
    await expectEveryMessageQueued(world, count);
    // A clean stop closes the connection on purpose: no outage is reported.
    const outagesReported = service.output().match(/Redis is unavailable/g)!.length;
    expect(await service.stop()).toBe(0);
    expect(service.output().match(/Redis is unavailable/g)!.length).toBe(outagesReported);
  });

  it('stopped answering (SIGSTOP) in the middle of a scan: 503 unavailable within 5 s, the lock let go; once it answers, every message is sent', async () => {
    const { redis, world } = await redisWorld();
    const count = 40;
    const today = await seedDueLicenses(world.db, count);
    const { url } = await startApi(world);

    // The connection still looks connected, so the scan starts, writes its reminders, and
    // then gets no answer from the queues.
    redis.pause();
    const refused = await scan(url, today);
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.body.error.code).toBe('unavailable');
    expect(refused.ms).toBeLessThan(5_000);
    expect(await scanLockHeld(world.db)).toBe(false);
    expect(await messageStatuses(world.db)).toEqual({ pending: count });
    expect(await world.db.selectFrom('scans').select(['status', 'error']).execute()).toEqual([
      { status: 'failed', error: expect.stringMatching(/^Redis is unavailable: .*the scan wrote its 40 reminders and 40 messages, which the scheduler's sweeper queues/) },
    ]);
    const ready = await timed(`${url}/readyz`);
    expect(ready).toMatchObject({ status: 503, body: { redis: false, down: ['redis'] } });
    expect(ready.ms).toBeLessThan(3_000);

    redis.resume();
    // A second scan finds nothing new to write; the scheduler's sweeper queues what the
    // first left pending, and a worker sends it.
    await eventually(async () => ((await timed(`${url}/readyz`)).status === 200 ? true : undefined), 15_000, '/readyz to be 200 again');
    const again = await scan(url, today);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    startScheduler(world);
    const twilio = await fakeTwilio();
    cleanups.push(() => twilio.close());
    running.push(startService('sms-worker', env(world, { QUIET_HOURS: 'off', SMS_RATE_PER_SEC: '100000', ...providerEnv({ twilio }) })));
    await eventually(async () => ((await messageStatuses(world.db)).sent === count ? true : undefined), 60_000, 'every message to be sent');
    expect(await messageStatuses(world.db)).toEqual({ sent: count });
  });

  it('the scheduler: while Redis is away its sweeps fail fast and say so, round after round; back, the sweeper queues again what Redis lost', async () => {
    const { redis, world } = await redisWorld();
    const count = 40;
    await seedDueLicenses(world.db, count);
    const scheduler = startScheduler(world);
    await eventually(
      async () => ((await world.db.selectFrom('scans').select('status').where('status', '=', 'succeeded').executeTakeFirst()) ? true : undefined),
      30_000,
      "today's scan",
    );
    await expectEveryMessageQueued(world, count);

    await redis.kill(); // and its jobs with it
    const failedSweeps = () => scheduler.output().match(/sweep failed/g)?.length ?? 0;
    const before = failedSweeps();
    // A sweep a second: three that failed show that none waits for Redis.
    await eventually(() => (failedSweeps() >= before + 3 ? true : undefined), 15_000, 'three sweeps to fail');
    expect(scheduler.output()).toMatch(/Redis is unavailable/);
    expect(await scanLockHeld(world.db)).toBe(false);

    await redis.start();
    await eventually(() => (scheduler.output().includes(`"requeued":${count}`) ? true : undefined), 15_000, 'the sweeper to queue the messages again');
    await expectEveryMessageQueued(world, count);
  });
});

describe('PostgreSQL stops answering', { timeout: 120_000 }, () => {
  it('/readyz names postgres within 3 s, a /v1 read answers 503 unavailable within 5 s; when it answers again, so does the API', async () => {
    const database = await freshDatabase();
    cleanups.push(() => database.drop());
    const queue = await freshQueuePrefix();
    cleanups.push(() => queue.cleanup());
    const target = new URL(database.url);
    const proxy = await pausableProxy({ host: target.hostname, port: Number(target.port || 5432) });
    cleanups.push(() => proxy.close());
    await insertCategory(database.db, testCategory({ code: CATEGORY }));
    const world: World = { db: database.db, databaseUrl: proxy.through(database.url), redisUrl: queue.url, prefix: queue.prefix };
    const { url, service } = await startApi(world);
    const read = () => timed(`${url}/v1/categories`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect((await read()).status).toBe(200); // the pool holds connections, which will go silent

    for (const newConnections of ['blackhole', 'refuse'] as const) {
      proxy.pause(newConnections);
      const [ready, first] = await Promise.all([timed(`${url}/readyz`), read()]);
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ status: 'not ready', postgres: false, redis: true, down: ['postgres'] });
      expect(ready.ms).toBeLessThan(3_000);
      expect(first.status, JSON.stringify(first.body)).toBe(503);
      expect(first.body).toEqual({ error: { code: 'unavailable', message: expect.stringMatching(/PostgreSQL/) } });
      expect(first.ms).toBeLessThan(5_000);
      // Once the API has found it down (a check unanswered), at once.
      const outages = () => service.output().match(/"postgres":"unavailable"/g)?.length ?? 0;
      await eventually(() => (outages() === (newConnections === 'blackhole' ? 1 : 2) ? true : undefined), 5_000, 'the outage to be logged');
      const next = await read();
      expect(next.status).toBe(503);
      expect(next.ms).toBeLessThan(1_000);

      proxy.resume();
      await eventually(async () => ((await read()).status === 200 ? true : undefined), 15_000, 'a read to succeed again');
      expect((await timed(`${url}/readyz`)).status).toBe(200);
      expect(service.output()).toMatch(/PostgreSQL answers again/);
    }
  });
});
