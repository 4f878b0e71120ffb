// `npm run scan`: the real command, as its own process, against a database and queue prefix of its own.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { insertCategory, SCAN_LOCK } from '@lr/db';
import { addDays, localDate } from '@lr/domain';
import {
  freshDatabase,
  freshMessageQueues,
  storeLicenses,
  TEST_ENTERPRISE,
  testCategory,
  testLicense,
  validLicense,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const AS_OF = '2026-03-01';

let database: TestDatabase;
let redis: TestQueues;

beforeAll(async () => {
  [database, redis] = await Promise.all([freshDatabase(), freshMessageQueues()]);
  await insertCategory(database.db, testCategory({ code: 'food', channels: ['sms'] }));
  const licence = validLicense(testLicense({ categoryCode: 'food', licenseNo: 'CMD-1', ...TEST_ENTERPRISE, expiresOn: addDays(AS_OF, 30) }));
  await storeLicenses(database.db, [licence]);
});

afterAll(async () => {
  await redis?.cleanup();
  await database?.drop();
});

function scan(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return scanWith({}, ...args);
}

function scanWith(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/scan.ts', ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: database.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, ...env },
        timeout: 30_000,
      },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('npm run scan', () => {
  it('scans for the given date, queues the SMS and prints the scan’s record; again, it creates nothing and skips the licence', async () => {
    const first = await scan('--as-of', AS_OF);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ asOf: AS_OF, trigger: 'command', status: 'succeeded', remindersCreated: 1, skipped: 0, messagesQueued: 1 });
    expect(await redis.queues.sms.getWaitingCount()).toBe(1);

    const again = await scan('--as-of', AS_OF);
    expect(JSON.parse(again.stdout)).toMatchObject({ remindersCreated: 0, skipped: 1, messagesQueued: 0 });
  });

  it.each([
    { args: ['--as-of', '2026-02-30'] },
    { args: ['--as-of', '1999-12-31'] },
    { args: ['--when', AS_OF] },
    { args: [AS_OF] },
  ])('refuses $args with exit status 2 and says why', async ({ args }) => {
    const result = await scan(...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^scan: .+\nusage: npm run scan/);
  });

  it('says a bad date is bad usage before it reads the configuration or reaches the stores', async () => {
    const result = await scanWith({ DATABASE_URL: 'mysql://nowhere' }, '--as-of', '2026-02-30');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^scan: --as-of must be a real date \(YYYY-MM-DD\) from 2000-01-01 to 2100-12-31, not "2026-02-30"\nusage: npm run scan/);
  });

  it('refuses a date after today with exit status 2 and says why, unless ALLOW_FUTURE_SCANS=on', async () => {
    const today = localDate('Asia/Shanghai');
    const tomorrow = addDays(today, 1);
    const scansBefore = await database.db.selectFrom('scans').select('id').execute();

    const refused = await scan('--as-of', tomorrow);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(new RegExp(`^scan: --as-of ${tomorrow} is after today \\(${today} in Asia/Shanghai\\).*ALLOW_FUTURE_SCANS=on`));
    expect(await database.db.selectFrom('scans').select('id').execute()).toEqual(scansBefore);

    const allowed = await scanWith({ ALLOW_FUTURE_SCANS: 'on' }, '--as-of', tomorrow);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ asOf: tomorrow, trigger: 'command', status: 'succeeded' });
  });

  it('exits 75 while another scan holds the lock, and scans nothing', async () => {
    const scansBefore = (await database.db.selectFrom('scans').select('id').execute()).length;
    const other = await database.pool.connect();
    try {
      await other.query('select pg_advisory_lock($1)', [SCAN_LOCK]);
      const result = await scan('--as-of', AS_OF);
      expect(result.code, result.stderr).toBe(75);
      expect(result.stderr).toContain('another scan is running');
    } finally {
      await other.query('select pg_advisory_unlock($1)', [SCAN_LOCK]);
      other.release();
    }
    expect(await database.db.selectFrom('scans').select('id').execute()).toHaveLength(scansBefore);
  });
});
