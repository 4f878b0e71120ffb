import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from '@lr/db';
import { sql } from 'kysely';
import type pg from 'pg';
import { TEST_ALIYUN } from './fake-aliyun';
import { TEST_PUSH_SECRET } from './fake-push-gateway';
import { TEST_TWILIO } from './fake-twilio';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** everything the process wrote, stdout and stderr */
  output(): string;
  /** SIGTERM, then waits for the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs one of services/* as its own process, as in production (`node --import tsx`, no build
 * step); `nodeArgs` go to node before them (a benchmark's `--cpu-prof`).
 */
export function startService(
  name: 'api' | 'scheduler' | 'sms-worker' | 'push-worker',
  env: NodeJS.ProcessEnv,
  nodeArgs: string[] = [],
): ServiceProcess {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join('services', name, 'src', 'main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    name,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** ALIYUN_SMS_REPORT_TOKEN of the services pointed at the fake Alibaba Cloud: the last segment of the receipt URL. */
export const TEST_ALIYUN_REPORT_TOKEN = 'test-report-token-0123456789abcdef';

/** What the API reads with SMS_PROVIDER=aliyun: the receipt URL's token alone (it calls Alibaba Cloud for nothing). */
export const ALIYUN_API_ENV = { SMS_PROVIDER: 'aliyun', ALIYUN_SMS_REPORT_TOKEN: TEST_ALIYUN_REPORT_TOKEN };

/**
 * The settings that point a service at the fake providers: Twilio or Alibaba Cloud (with
 * TEST_ALIYUN's key, signature and digest template, and TEST_ALIYUN_REPORT_TOKEN), and the
 * push gateway, whichever are given, and with either the public URL (of Twilio's signed
 * status callbacks and of the messages' renewal links).
 */
export function providerEnv(fakes: { twilio?: { url: string }; aliyun?: { url: string }; gateway?: { url: string }; publicBaseUrl?: string }): NodeJS.ProcessEnv {
  return {
    ...(fakes.twilio && {
      SMS_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: TEST_TWILIO.accountSid,
      TWILIO_AUTH_TOKEN: TEST_TWILIO.authToken,
      TWILIO_FROM: TEST_TWILIO.from,
      TWILIO_API_BASE_URL: fakes.twilio.url,
    }),
    ...(fakes.aliyun && {
      SMS_PROVIDER: 'aliyun',
      ALIYUN_ACCESS_KEY_ID: TEST_ALIYUN.accessKeyId,
      ALIYUN_ACCESS_KEY_SECRET: TEST_ALIYUN.accessKeySecret,
      ALIYUN_SMS_SIGN_NAME: TEST_ALIYUN.signName,
      ALIYUN_SMS_ENDPOINT: fakes.aliyun.url,
      ALIYUN_SMS_DIGEST_TEMPLATE_CODE: TEST_ALIYUN.digestTemplateCode,
      ALIYUN_SMS_REPORT_TOKEN: TEST_ALIYUN_REPORT_TOKEN,
    }),
    ...(fakes.gateway && { PUSH_PROVIDER: 'gateway', PUSH_GATEWAY_URL: fakes.gateway.url, PUSH_GATEWAY_SECRET: TEST_PUSH_SECRET }),
    ...((fakes.twilio || fakes.aliyun || fakes.gateway) && { PUBLIC_BASE_URL: fakes.publicBaseUrl ?? 'https://reminders.example.gov.cn' }),
  };
}

/**
 * Takes a lock on a connection of its own (`statement`, inside a transaction) until
 * release(): a service's statement that needs it waits there, so that a fault lands at that
 * point every time, however fast the machine.
 */
export async function holdLock(pool: pg.Pool, statement: string): Promise<{ release(): Promise<void> }> {
  const blocker = await pool.connect();
  await blocker.query('begin');
  await blocker.query(statement);
  return {
    async release() {
      await blocker.query('rollback').catch(() => {}); // gone with a restarted server
      blocker.release(true);
    },
  };
}

/** Waits until a statement of a service (`application_name like applicationName`) waits for a lock. */
export async function untilWaitingForLock(db: Database, applicationName: string, what: string): Promise<void> {
  await eventually(async () => {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity
       where datname = current_database() and wait_event_type = 'Lock' and application_name like ${applicationName}`.execute(db);
    return rows[0]!.n > 0 ? true : undefined;
  }, 30_000, what);
}
