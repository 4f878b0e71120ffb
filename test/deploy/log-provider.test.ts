/**
 * A worker started with the log provider (SMS_PROVIDER or PUSH_PROVIDER unset or `log`)
 * sends nothing: outside `npm start`, which runs it so on purpose, it says so at start, in
 * one warn line, where an operator reading the start of its log sees it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freshDatabase, freshQueuePrefix, startService, type ServiceProcess, type TestDatabase, type TestRedis } from '@lr/testing';

let database: TestDatabase;
let redis: TestRedis;
beforeAll(async () => {
  database = await freshDatabase();
  redis = await freshQueuePrefix();
});
afterAll(async () => {
  await redis?.cleanup();
  await database?.drop();
});

interface LogLine {
  level: number;
  msg: string;
}

/** Starts the worker, waits for its "started" line and stops it: the lines it wrote. */
async function linesAtStart(name: 'sms-worker' | 'push-worker', env: Record<string, string>): Promise<LogLine[]> {
  const worker: ServiceProcess = startService(name, {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    LOG_FORMAT: 'json',
    ...env,
  });
  try {
    await eventually(() => (worker.output().includes(`${name} started`) ? true : undefined), 30_000, `${name} to start`);
  } finally {
    await worker.stop();
  }
  return worker
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

const WARN = 40;

describe.each([
  ['sms-worker', 'SMS_PROVIDER'],
  ['push-worker', 'PUSH_PROVIDER'],
] as const)('%s with the log provider', (name, setting) => {
  it('warns at start, in one line, that nothing reaches the holders', async () => {
    const lines = await linesAtStart(name, { [setting]: 'log' });
    const warnings = lines.filter((line) => line.level === WARN);
    expect(warnings.map((line) => line.msg)).toEqual([`${setting}=log: messages are only written to this log, nothing reaches the holders`]);
    // before the worker takes any job
    expect(lines.indexOf(warnings[0]!)).toBeLessThan(lines.findIndex((line) => line.msg === `${name} started`));
  });

  it('says nothing of it under npm start, which runs the log providers on purpose', async () => {
    const lines = await linesAtStart(name, { NPM_START: 'on' });
    expect(lines.filter((line) => line.level >= WARN)).toEqual([]);
  });
});
