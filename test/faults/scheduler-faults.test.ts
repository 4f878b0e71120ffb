import { connect, migrate, type Database } from '@lr/db';
import {
  eventually,
  fakeTwilio,
  freePort,
  freshDatabase,
  freshQueuePrefix,
  holdLock,
  privatePostgres,
  privateRedis,
  providerEnv,
  startService,
  TEST_PII_KEY,
  untilWaitingForLock,
  type ServiceProcess,
} from '@lr/testing';
import { sql } from 'kysely';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { expectEveryMessageQueued, seedDueLicenses, TZ } from './store';

/**
 * The scheduler under faults, as real processes on real PostgreSQL and Redis (issue 4):
 * killed mid-scan, raced by a second scheduler and the API, its Redis wiped, its
 * PostgreSQL restarted. After each, the reminders and messages must be exactly the
 * expected set, and every message on its queue once.
 *
 * The schedulers run with SCAN_CRON every minute, so today's scan is owed as soon as one
 * starts (upkeep.ts), and with a one-second sweep.
 */

const running: ServiceProcess[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('SIGKILL')));
  // Every cleanup runs, also after one fails; the first failure is reported.
  const results = [];
  for (const cleanup of cleanups.splice(0).reverse()) results.push(await cleanup().then(() => undefined, (error: unknown) => ({ error })));
  const failed = results.find((r) => r !== undefined);
  if (failed) throw failed.error;
});

interface World {
  db: Database;
  pool: pg.Pool;
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
}

function schedulerEnv(world: World, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    DATABASE_URL: world.databaseUrl,
    REDIS_URL: world.redisUrl,
    QUEUE_PREFIX: world.prefix,
    REMINDER_TIMEZONE: TZ,
    SCAN_CRON: '* * * * *',
    SWEEP_INTERVAL_SECONDS: '1',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

function scheduler(world: World): ServiceProcess {
  const service = startService('scheduler', schedulerEnv(world));
  running.push(service);
  return service;
}

/**
 * Exactly the expected outcome of today's scan: one reminder per licence, in the window
 * its days left put it in; one SMS per phone carrying it; every message queued once in
 * PostgreSQL and held once by its queue.
 */
async function expectExactlyScanned(world: World, count: number, today: string): Promise<void> {
  const { rows } = await sql<{ reminders: number; wrongWindow: number; licensesReminded: number; messages: number; deliveries: number; unqueued: number }>`
    select (select count(*)::int from reminders) as reminders,
           (select count(*)::int from reminders r
             where r.lead_days <> case when r.expires_on - ${today}::date <= 10 then 10
                                       when r.expires_on - ${today}::date <= 30 then 30 else 60 end) as wrong_window,
           (select count(distinct license_id)::int from reminders) as licenses_reminded,
           (select count(*)::int from outgoing_messages) as messages,
           (select count(*)::int from deliveries) as deliveries,
           (select count(*)::int from outgoing_messages where status <> 'queued') as unqueued`.execute(world.db);
  expect(rows[0]).toEqual({ reminders: count, wrongWindow: 0, licensesReminded: count, messages: count, deliveries: count, unqueued: 0 });

  await expectEveryMessageQueued(world, count);
}

async function scans(db: Database) {
  return db.selectFrom('scans').select(['id', 'status', 'trigger', 'remindersCreated', 'error']).orderBy('id').execute();
}

/** Waits until one of the scans has this status. */
async function untilScan(db: Database, status: 'running' | 'succeeded', timeoutMs = 60_000): Promise<void> {
  const has = async () => ((await scans(db).catch(() => [])).some((s) => s.status === status) ? true : undefined);
  await eventually(has, timeoutMs, `a scan to be ${status}`);
}

/**
 * Holds one seeded licence locked, so that a scan stops inside its transaction (at its
 * `for share` of the licences) until release(): a fault then lands mid-scan every time.
 */
function holdScanMidway(pool: pg.Pool) {
  return holdLock(pool, `select 1 from licenses where license_no = 'F-1' for update`);
}

/** Waits until a scheduler's scan is waiting for the held licence. */
function untilScanWaits(db: Database) {
  return untilWaitingForLock(db, 'scheduler', 'the scan to reach the held licence');
}

async function sharedWorld(): Promise<World> {
  const database = await freshDatabase();
  cleanups.push(() => database.drop());
  const redis = await freshQueuePrefix();
  cleanups.push(() => redis.cleanup());
  return { db: database.db, pool: database.pool, databaseUrl: database.url, redisUrl: redis.url, prefix: redis.prefix };
}

describe('the scheduler under faults', { timeout: 180_000 }, () => {
  it('SIGKILLed in the middle of a large scan and started again: exactly the expected reminders and messages', async () => {
    const world = await sharedWorld();
    const count = 20_000;
    const today = await seedDueLicenses(world.db, count);

    const held = await holdScanMidway(world.pool);
    const first = scheduler(world);
    await untilScanWaits(world.db);
    await first.stop('SIGKILL');
    await held.release();

    scheduler(world);
    await untilScan(world.db, 'succeeded');
    // The killed scan's record says so; the work was done once in all.
    const all = await scans(world.db);
    expect(all[0]).toMatchObject({ status: 'failed', error: expect.stringMatching(/^interrupted/) });
    expect(all.reduce((sum, s) => sum + s.remindersCreated, 0)).toBe(count);
    await expectExactlyScanned(world, count, today);
  });

  it('SIGTERM in the middle of a scan: the scheduler finishes the scan, then stops cleanly', async () => {
    const world = await sharedWorld();
    const count = 20_000;
    const today = await seedDueLicenses(world.db, count);
    const held = await holdScanMidway(world.pool);
    const service = scheduler(world);
    await untilScanWaits(world.db);
    const stopping = service.stop('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    expect(service.child.exitCode, 'the scheduler exited in the middle of its scan').toBeNull();
    await held.release();
    expect(await stopping, service.output().slice(-2000)).toBe(0);
    expect(await scans(world.db)).toMatchObject([{ status: 'succeeded', remindersCreated: count }]);
    await expectExactlyScanned(world, count, today);
  });

  it('two schedulers and a scan through the API at once: no duplicate, nothing missing', async () => {
    const world = await sharedWorld();
    const count = 20_000;
    const today = await seedDueLicenses(world.db, count);
    const port = await freePort();
    const adminKey = 'fault-admin-key-0123456789abcdef';
    const api = startService('api', {
      ...schedulerEnv(world),
      PORT: String(port),
      ADMIN_API_KEY: adminKey,
      INBOX_JWT_SECRET: 'fault-inbox-secret-0123456789abcdef0123',
      PII_KEY: TEST_PII_KEY,
    });
    running.push(api);
    await eventually(() => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => (r.ok ? true : undefined), () => undefined), 30_000, 'the API');

    scheduler(world);
    scheduler(world);
    // The API asks for today's scan until one has run: each answer is a scan or a 409 while another runs.
    await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${port}/v1/scans`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ asOf: today }),
      });
      expect([200, 409]).toContain(response.status);
      return (await scans(world.db)).some((s) => s.status === 'succeeded') ? true : undefined;
    }, 60_000, 'a scan to succeed');

    const all = await scans(world.db);
    expect(all.every((s) => s.status !== 'failed'), JSON.stringify(all)).toBe(true);
    expect(all.reduce((sum, s) => sum + s.remindersCreated, 0)).toBe(count);
    await expectExactlyScanned(world, count, today);
  });

  it('FLUSHALL (on a Redis of its own) after a scan, before any worker ran: every message is still sent, once', async () => {
    const redis = await privateRedis();
    cleanups.push(() => redis.stop());
    const twilio = await fakeTwilio();
    cleanups.push(() => twilio.close());
    const database = await freshDatabase();
    cleanups.push(() => database.drop());
    const world: World = { db: database.db, pool: database.pool, databaseUrl: database.url, redisUrl: redis.url, prefix: 'lr' };
    const count = 300;
    const today = await seedDueLicenses(world.db, count);

    const service = scheduler(world);
    await untilScan(world.db, 'succeeded', 30_000);
    await expectExactlyScanned(world, count, today);

    await redis.client.flushall();
    // The sweeper says it put every message back, and the queue holds each once.
    await eventually(() => (service.output().includes(`"requeued":${count}`) ? true : undefined), 15_000, 'the sweeper');
    await expectExactlyScanned(world, count, today);

    const worker = startService('sms-worker', {
      ...schedulerEnv(world),
      QUIET_HOURS: 'off',
      SMS_RATE_PER_SEC: '100000',
      ...providerEnv({ twilio }),
    });
    running.push(worker);
    await eventually(
      async () => {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from outgoing_messages where status = 'sent'`.execute(world.db);
        return rows[0]!.n === count ? true : undefined;
      },
      60_000,
      'every message to be sent',
    );
    const sent = twilio.sms();
    expect(sent).toHaveLength(count);
    expect(new Set(sent.map((s) => s.to)).size).toBe(count);
  });

  it('PostgreSQL (one of its own) restarted during a scan: the scan fails, is recorded as failed, and the next run completes it', async () => {
    const postgres = await privatePostgres();
    cleanups.push(() => postgres.stop());
    const redis = await freshQueuePrefix();
    cleanups.push(() => redis.cleanup());
    const url = new URL(postgres.url);
    url.pathname = '/reminders';
    const admin = connect(postgres.url, { max: 1 });
    await sql`create database reminders`.execute(admin.db);
    await admin.close();
    const handle = connect(url.toString(), { max: 3 });
    cleanups.push(() => handle.close());
    await migrate(handle.db);
    const world: World = { db: handle.db, pool: handle.pool, databaseUrl: url.toString(), redisUrl: redis.url, prefix: redis.prefix };
    const count = 20_000;
    const today = await seedDueLicenses(world.db, count);

    const held = await holdScanMidway(world.pool);
    const service = scheduler(world);
    await untilScanWaits(world.db);
    await postgres.restart(1000);
    await held.release();

    await untilScan(world.db, 'succeeded').catch((error: Error) => {
      throw new Error(`${error.message}\n${service.output().slice(-3000)}`);
    });
    const all = await scans(world.db);
    expect(all[0]!.status, service.output().slice(-2000)).toBe('failed');
    expect(all.at(-1)!.status).toBe('succeeded');
    await expectExactlyScanned(world, count, today);
  });
});
