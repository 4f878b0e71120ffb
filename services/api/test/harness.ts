/**
 * The API as its tests run it: built in-process on a database and a queue prefix of its
 * own, with an admin key, and the checks every test file makes of an error response.
 */
import { loadConfig } from '@lr/config';
import { openMessageQueues, redisConnection, type MessageQueues } from '@lr/jobs';
import { createLogger, type Logger } from '@lr/log';
import { freshDatabase, freshQueuePrefix, TEST_PII_KEY, testCategory, type TestDatabase, type TestRedis } from '@lr/testing';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { buildApp } from '../src/app';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';
export const INBOX_SECRET = 'inbox-secret-for-tests-0123456789abcdef';

export const auth = (key: string) => ({ authorization: `Bearer ${key}` });
export const admin = auth(ADMIN_KEY);

export type App = Awaited<ReturnType<typeof buildApp>>;

export interface TestApp {
  app: App;
  database: TestDatabase;
  /** the Redis of the queues, with this file's BullMQ key prefix */
  queueRedis: TestRedis;
  redis: ReturnType<typeof redisConnection>;
  queues: MessageQueues;
  /** Closes the app and its queues and drops the database. */
  close(): Promise<void>;
}

/**
 * Builds the API on a fresh database and queue prefix, with quiet hours off and future scans
 * allowed. `extraEnv` is added to (or overrides) the API's environment. If anything fails on
 * the way, what was opened is closed again.
 */
export async function startTestApp(extraEnv: Record<string, string> = {}, appOptions: { stallMs?: number; log?: Logger } = {}): Promise<TestApp> {
  /** how to close what is open, in the order it was opened */
  const opened: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const step of opened.splice(0).reverse()) await step();
  };
  try {
    const database = await freshDatabase();
    opened.push(() => database.drop());
    const queueRedis = await freshQueuePrefix();
    opened.push(() => queueRedis.cleanup());
    const redis = redisConnection(queueRedis.url);
    await redis.ping(); // connected before the first request, so the rate limit counts it
    opened.push(() => redis.quit());
    const queues = openMessageQueues(redis, queueRedis.prefix);
    opened.push(() => queues.close());
    const config = loadConfig('api', {
      DATABASE_URL: database.url,
      REDIS_URL: queueRedis.url,
      QUEUE_PREFIX: queueRedis.prefix,
      INBOX_JWT_SECRET: INBOX_SECRET,
      PII_KEY: TEST_PII_KEY,
      ADMIN_API_KEY: ADMIN_KEY,
      QUIET_HOURS: 'off',
      // Tests scan fixed dates, some after today; scans.test.ts turns it off to see the refusal.
      ALLOW_FUTURE_SCANS: 'on',
      ...extraEnv,
    });
    const app = await buildApp({
      config,
      db: database.db,
      cancelBackend: database.cancelBackend,
      redis,
      queues,
      log: createLogger('test', 'silent'),
      ...appOptions,
    });
    opened.push(() => app.close());
    await app.ready();
    return { app, database, queueRedis, redis, queues, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * A category as POST /v1/categories takes it: testCategory() without lead days and
 * `enabled`, so that the API's defaults apply, then `overrides` (which may be invalid).
 */
export function categoryBody(code: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const { leadDays: _leadDays, enabled: _enabled, ...body } = testCategory({ code });
  return { ...body, ...overrides };
}

export interface ErrorBody {
  code: string;
  message: string;
  details?: { index?: number; field: string; message: string }[];
}

/** The status, and a body { error: { code, message, ... } } with nothing else; the code too if given. */
export function expectErrorShape(res: LightMyRequestResponse, status: number, code?: string): ErrorBody {
  expect(res.statusCode, res.body).toBe(status);
  const body = res.json<{ error: ErrorBody }>();
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.code).toBe('string');
  expect(typeof body.error.message).toBe('string');
  if (code !== undefined) expect(body.error.code).toBe(code);
  return body.error;
}

/** Every error has the contract's shape: { error: { code, message, details? } } and nothing else, as JSON, with a message. */
export function expectError(res: LightMyRequestResponse, status: number, code?: string): ErrorBody {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  const error = expectErrorShape(res, status, code);
  expect(error.message.length).toBeGreaterThan(0);
  return error;
}

/** One delivery of a reminder as GET /v1/reminders shows it. */
export interface ReminderDelivery {
  channel: string;
  status: string;
  providerMessageId: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  deliveredAt: string | null;
}

/** The one delivery of a licence's only reminder, as GET /v1/reminders shows it, with the reminder's status. */
export async function onlyDelivery(app: App, licenseNo: string): Promise<ReminderDelivery & { reminderStatus: string }> {
  const res = await app.inject({ method: 'GET', url: `/v1/reminders?licenseNo=${encodeURIComponent(licenseNo)}`, headers: admin });
  const [reminder] = res.json<{ items: { status: string; deliveries: ReminderDelivery[] }[] }>().items;
  expect(reminder?.deliveries).toHaveLength(1);
  return { reminderStatus: reminder!.status, ...reminder!.deliveries[0]! };
}
