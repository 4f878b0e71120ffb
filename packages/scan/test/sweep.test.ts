import { insertCategory, type Database } from '@lr/db';
import { addDays } from '@lr/domain';
import { createLogger } from '@lr/log';
import {
  claimMessage,
  markSent,
  ageClaim,
  freshDatabase,
  freshMessageQueues,
  storeLicenses,
  TEST_ENTERPRISE,
  testCategory,
  testLicense,
  validLicense,
  type TestDatabase,
  type TestQueues,
  FOLLOW_UP_DAYS,
} from '@lr/testing';
import { redisConnection, sendSms, startWorker } from '@lr/jobs';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runScan } from '../src/scan';
import { sweepUnsent } from '../src/sweep';

const D = '2026-03-02';
let database: TestDatabase;
let redis: TestQueues;

beforeEach(async () => {
  [database, redis] = await Promise.all([freshDatabase(), freshMessageQueues()]);
  await insertCategory(db(), testCategory({ code: 'food', channels: ['sms', 'push'] }));
  // Three licences due, each with its own phone and app account: three SMS and three pushes.
  const licences = [1, 2, 3].map((n) =>
    validLicense(
      testLicense({ categoryCode: 'food', licenseNo: `F-${n}`, ...TEST_ENTERPRISE, phone: `+861380013800${n}`, platformUserId: `user-${n}`, expiresOn: addDays(D, 30) }),
    ),
  );
  await storeLicenses(db(), licences);
});

afterEach(async () => {
  await redis.cleanup();
  await database.drop();
});

const db = (): Database => database.db;
/** CLAIM_LEASE_SECONDS: a claim older than this lost its worker */
const LEASE = 60;
const CLAIM = { leaseSeconds: LEASE, maxClaims: 8 };
const deps = () => ({ db: db(), queues: redis.queues, redis: redis.connection, claimLeaseSeconds: LEASE });
const scan = () => runScan({ db: db(), queues: redis.queues, log: createLogger('test', 'silent'), followUpDays: FOLLOW_UP_DAYS }, { asOf: D, trigger: 'command' });

async function jobIds(): Promise<string[]> {
  const ids = await Promise.all(
    (['sms', 'push'] as const).map(async (channel) => (await redis.queues[channel].getJobs(['waiting', 'delayed', 'active'])).map((j) => j.id!)),
  );
  return ids.flat().sort();
}

async function statuses(): Promise<Record<string, number>> {
  const rows = await db().selectFrom('outgoingMessages').select(['status']).execute();
  const counts: Record<string, number> = {};
  for (const { status } of rows) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

describe('the sweeper', () => {
  it('puts back every queued message after Redis lost its data, each once, and a second sweep adds nothing', async () => {
    await scan();
    const queued = await jobIds();
    expect(queued).toHaveLength(6);
    await redis.dropKeys();
    expect(await jobIds()).toEqual([]);

    expect(await sweepUnsent(deps())).toEqual({ unsent: 6, requeued: 6 });
    expect(await jobIds()).toEqual(queued);
    expect(await sweepUnsent(deps())).toEqual({ unsent: 6, requeued: 0 });
    expect(await jobIds()).toEqual(queued);
  });

  it('enqueues the messages a scan committed but did not enqueue (a crash in between), and marks them queued', async () => {
    await scan();
    const queued = await jobIds();
    await redis.dropKeys();
    // As the scan's transaction leaves them, before its enqueue.
    await sql`update outgoing_messages set status = 'pending'`.execute(db());
    await sql`update deliveries set status = 'pending'`.execute(db());

    expect(await sweepUnsent(deps())).toEqual({ unsent: 6, requeued: 6 });
    expect(await jobIds()).toEqual(queued);
    expect(await statuses()).toEqual({ queued: 6 });
    const events = await sql<{ cause: string; n: number }>`
      select cause, count(*)::int as n from delivery_events where status = 'queued' group by cause`.execute(db());
    expect(events.rows).toEqual([{ cause: 'enqueued', n: 12 }]);
  });

  it('leaves alone a message a worker holds or has sent: only unsent messages go back', async () => {
    await scan();
    const [first, second] = await db().selectFrom('outgoingMessages').select('id').orderBy('id').limit(2).execute();
    await claimMessage(db(), first!.id, 'worker-a', CLAIM);
    await claimMessage(db(), second!.id, 'worker-b', CLAIM);
    await markSent(db(), second!.id, 'worker-b', { providerMessageId: 'SM1', body: 'sent' });
    await redis.dropKeys();

    expect(await sweepUnsent(deps())).toEqual({ unsent: 4, requeued: 4 });
    const back = await jobIds();
    expect(back).toHaveLength(4);
    expect(back.some((id) => id.endsWith(`-${first!.id}`) || id.endsWith(`-${second!.id}`))).toBe(false);
  });

  it('puts back a message whose worker stopped mid-send once its claim is older than the lease, when its job is gone', async () => {
    await scan();
    const [first, second] = await db().selectFrom('outgoingMessages').select('id').orderBy('id').limit(2).execute();
    await claimMessage(db(), first!.id, 'worker-dead', CLAIM);
    await claimMessage(db(), second!.id, 'worker-alive', CLAIM);
    await ageClaim(db(), first!.id, 120);
    await redis.dropKeys();

    expect(await sweepUnsent(deps())).toEqual({ unsent: 5, requeued: 5 });
    const back = await jobIds();
    expect(back.some((id) => id.endsWith(`-${first!.id}`))).toBe(true);
    expect(back.some((id) => id.endsWith(`-${second!.id}`))).toBe(false);
  });

  it('does nothing when every unsent message is on its queue', async () => {
    await scan();
    expect(await sweepUnsent(deps())).toEqual({ unsent: 6, requeued: 0 });
  });

  it('adds again a message whose job id a finished job holds (ids used again after a database restore), instead of letting BullMQ ignore it', async () => {
    await scan();
    const sms = (await redis.queues.sms.getJobs(['waiting'])).map((j) => j.id!).sort();
    // A worker of another life of the database finishes the jobs of these ids without sending.
    const connection = redisConnection(redis.url);
    const stale = startWorker(sendSms, async () => 'done', { connection, prefix: redis.prefix, concurrency: 5 });
    while ((await redis.queues.sms.getCompletedCount()) < sms.length) await new Promise((r) => setTimeout(r, 50));
    await stale.close();
    await connection.quit();
    expect(await redis.queues.sms.getWaitingCount()).toBe(0);

    expect(await sweepUnsent(deps())).toEqual({ unsent: 6, requeued: 3 });
    expect((await redis.queues.sms.getJobs(['waiting'])).map((j) => j.id!).sort()).toEqual(sms);
    expect(await sweepUnsent(deps())).toEqual({ unsent: 6, requeued: 0 });
  });
});
