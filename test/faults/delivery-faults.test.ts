import { connect, findMessage, insertCategory, migrate } from '@lr/db';
import { addDays, localDate } from '@lr/domain';
import { createLogger } from '@lr/log';
import { runScan } from '@lr/scan';
import {
  eventually,
  fakePushGateway,
  fakeTwilio,
  freshDatabase,
  freshMessageQueues,
  holdLock,
  privatePostgres,
  providerEnv,
  startService,
  storeLicenses,
  testCategory,
  testLicense,
  validLicense,
  type FakeHttpServer,
  type ServiceProcess,
  type TestDatabase,
  type TestQueues,
  untilWaitingForLock,
  FOLLOW_UP_DAYS,
} from '@lr/testing';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * A delivery worker SIGKILLed mid-send, as real processes on real PostgreSQL and Redis
 * (issues 5 and 14; README "What a crash may repeat"). The claim in PostgreSQL says a worker
 * is sending; it cannot say whether the provider got the message. Once the claim's lease
 * (CLAIM_LEASE_SECONDS, 2 s here) has run out, the next worker takes the message over, and
 * looks before sending again:
 * - an SMS: Twilio's Messages list (To, DateSent> from the dead claim) is read, and a message
 *   of the same text is recorded as sent with its sid, not sent again; not found (killed
 *   before the call), it is sent once; the look-up failing, it is sent again, and the holder
 *   may get that SMS twice (Twilio has no idempotency key);
 * - a push is sent again: the gateway gets the same idempotency key and delivers it once.
 * The worker's BullMQ job lock is half the lease, so a restarted worker takes the killed
 * one's job back within a second or two.
 */
const LEASE_SECONDS = '2';
const PHONE = '+8613800138000';
const USER = 'platform-user-1';

const running: ServiceProcess[] = [];
let database: TestDatabase;
let redis: TestQueues;
let twilio: Awaited<ReturnType<typeof fakeTwilio>>;
let gateway: Awaited<ReturnType<typeof fakePushGateway>>;
let messages: { sms: number; push: number };

beforeEach(async () => {
  [database, redis, twilio, gateway] = await Promise.all([freshDatabase(), freshMessageQueues(), fakeTwilio(), fakePushGateway()]);
  // One licence due in 30 days, reachable by SMS and by push: one message on each queue.
  await insertCategory(database.db, testCategory({ code: 'food', channels: ['sms', 'push'] }));
  const today = localDate('Asia/Shanghai');
  await storeLicenses(database.db, [
    validLicense(testLicense({ categoryCode: 'food', licenseNo: 'F-1', phone: PHONE, platformUserId: USER, expiresOn: addDays(today, 30) })),
  ]);
  await runScan({ db: database.db, queues: redis.queues, log: createLogger('test', 'silent'), followUpDays: FOLLOW_UP_DAYS }, { asOf: today, trigger: 'command' });
  const rows = await database.db.selectFrom('outgoingMessages').select(['id', 'channel']).execute();
  messages = {
    sms: rows.find((r) => r.channel === 'sms')!.id,
    push: rows.find((r) => r.channel === 'push')!.id,
  };
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop('SIGKILL')));
  await Promise.all([twilio.close(), gateway.close()]);
  await redis.cleanup();
  await database.drop();
});

function worker(name: 'sms-worker' | 'push-worker', env: NodeJS.ProcessEnv = {}): ServiceProcess {
  const service = startService(name, {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: redis.prefix,
    QUIET_HOURS: 'off',
    CLAIM_LEASE_SECONDS: LEASE_SECONDS,
    LOG_LEVEL: 'info',
    ...providerEnv({ twilio, gateway }),
    ...env,
  });
  running.push(service);
  return service;
}

async function kill(service: ServiceProcess): Promise<void> {
  await service.stop('SIGKILL');
  running.splice(running.indexOf(service), 1);
}

async function messageOf(channel: 'sms' | 'push') {
  const found = await findMessage(database.db, messages[channel]);
  if (!found) throw new Error(`${channel} message not found`);
  return found;
}

/** Waits until the provider has received `count` requests. */
async function received(provider: FakeHttpServer, count: number): Promise<void> {
  await eventually(() => (provider.requests.length >= count ? true : undefined), 30_000, `${count} provider request(s)`);
}

async function untilSent(channel: 'sms' | 'push') {
  return eventually(async () => {
    const message = await messageOf(channel);
    return message.status === 'sent' ? message : undefined;
  }, 30_000, `the ${channel} message to be sent`);
}

/** The ledger of a message's delivery: its statuses in order. */
async function ledger(channel: 'sms' | 'push'): Promise<string[]> {
  const { rows } = await sql<{ status: string }>`
    select e.status from delivery_events e join deliveries d on d.id = e.delivery_id
     where d.message_id = ${messages[channel]} order by e.id`.execute(database.db);
  return rows.map((r) => r.status);
}

/**
 * Kills a worker with its claim committed and the provider not yet called (its next
 * statement after the claim waits for `lock`), starts another, and returns the message once
 * that one sent it: taken over, on a second attempt.
 */
async function killedBeforeTheCall(channel: 'sms' | 'push', lock: string) {
  const name = channel === 'sms' ? 'sms-worker' : 'push-worker';
  const held = await holdLock(database.pool, lock);
  const first = worker(name);
  await untilWaitingForLock(database.db, '%-worker', 'a worker to wait for the held lock');
  expect(await messageOf(channel)).toMatchObject({ status: 'sending', attempts: 1 });
  await kill(first);
  await held.release();

  worker(name);
  const sent = await untilSent(channel);
  expect(sent.attempts).toBe(2);
  expect(await ledger(channel)).toEqual(['pending', 'queued', 'sending', 'sending', 'sent']);
  return sent;
}

describe('an SMS worker killed mid-send', () => {
  it('before it called Twilio: the next worker finds nothing at Twilio, and sends the SMS, once', async () => {
    const sent = await killedBeforeTheCall('sms', 'lock table sms_suppressions in access exclusive mode');
    expect(twilio.lookUps().map((q) => q.get('To'))).toEqual([PHONE]);
    expect(twilio.sms()).toEqual([expect.objectContaining({ to: PHONE, sid: sent.providerMessageId })]);
  });

  it('after Twilio accepted it, before the send was recorded: the next worker finds it at Twilio, records it with its sid, and does not send it again', async () => {
    twilio.answerLate(60_000);
    const first = worker('sms-worker');
    await received(twilio, 1);
    const [accepted] = twilio.sms();
    await kill(first);
    const deadClaimAt = (await messageOf('sms')).lockedAt!;
    // Twilio got on with it meanwhile.
    twilio.setStatus(accepted!.sid, 'delivered');

    worker('sms-worker');
    const found = await eventually(async () => {
      const message = await messageOf('sms');
      return message.status === 'delivered' ? message : undefined;
    }, 30_000, 'the SMS to be recorded, delivered');
    expect(twilio.sms()).toHaveLength(1);
    const [lookUp] = twilio.lookUps();
    expect(lookUp!.get('To')).toBe(PHONE);
    expect(Date.parse(lookUp!.get('DateSent>')!)).toBeLessThanOrEqual(deadClaimAt.getTime());
    expect(found).toMatchObject({ attempts: 2, providerMessageId: accepted!.sid, body: accepted!.body });
    expect(await ledger('sms')).toEqual(['pending', 'queued', 'sending', 'sending', 'sent', 'delivered']);
  });

  it('after Twilio accepted it, and Twilio cannot be asked (500): the next worker sends it again, and the holder may get the SMS twice', async () => {
    twilio.answerLate(60_000);
    const first = worker('sms-worker');
    await received(twilio, 1);
    await kill(first);
    twilio.queueReplies({ status: 500, body: { code: 20500, message: 'Internal Server Error', status: 500 } });

    const second = worker('sms-worker');
    const sent = await untilSent('sms');
    expect(twilio.lookUps()).toHaveLength(1);
    const sms = twilio.sms();
    expect(sms.map((s) => s.to)).toEqual([PHONE, PHONE]);
    expect(sms[1]!.body).toBe(sms[0]!.body);
    // What is recorded is the second send; the first sid never reached PostgreSQL.
    expect(sent).toMatchObject({ attempts: 2, providerMessageId: sms[1]!.sid });
    expect(await ledger('sms')).toEqual(['pending', 'queued', 'sending', 'sending', 'sent']);
    expect(second.output()).toContain('could not be asked whether it took the message');
  });
});

describe('a push worker killed mid-send', () => {
  it('before it wrote the inbox and called the gateway: the next worker does both, once', async () => {
    await killedBeforeTheCall('push', 'lock table inbox_messages in share mode');
    expect(gateway.pushes()).toHaveLength(1);
    const inbox = await database.db.selectFrom('inboxMessages').select(['platformUserId', 'messageId']).execute();
    expect(inbox).toEqual([{ platformUserId: USER, messageId: messages.push }]);
  });

  it('after the gateway accepted it: the gateway is called again with the same idempotency key, and the inbox holds it once', async () => {
    gateway.queueReplies({ status: 202, body: { accepted: true }, delayMs: 60_000 });
    const first = worker('push-worker');
    await received(gateway, 1);
    await kill(first);

    worker('push-worker');
    await untilSent('push');
    const pushes = gateway.pushes();
    expect(pushes).toHaveLength(2);
    expect(pushes[1]!.idempotencyKey).toBe(pushes[0]!.idempotencyKey);
    expect(pushes.every((p) => p.signatureValid && p.userId === USER)).toBe(true);
    const inbox = await database.db.selectFrom('inboxMessages').select('messageId').execute();
    expect(inbox).toEqual([{ messageId: messages.push }]);
  });
});

describe('an SMS worker whose PostgreSQL restarts while Twilio has the message', () => {
  it('records the send once PostgreSQL is back: Twilio is called once, the message is sent on its first attempt, and the worker logged the refused tries', async () => {
    // A PostgreSQL of the test's own, to restart; the same licence and scan as above.
    const postgres = await privatePostgres();
    try {
      const url = new URL(postgres.url);
      const admin = connect(url.toString(), { max: 1 });
      await sql`create database reminders`.execute(admin.db);
      await admin.close();
      url.pathname = '/reminders';
      const own = connect(url.toString(), { max: 2 });
      try {
        await migrate(own.db);
        await insertCategory(own.db, testCategory({ code: 'food', channels: ['sms'] }));
        const today = localDate('Asia/Shanghai');
        await storeLicenses(own.db, [validLicense(testLicense({ categoryCode: 'food', licenseNo: 'F-2', phone: PHONE, expiresOn: addDays(today, 30) }))]);
        await redis.dropKeys();
        await runScan({ db: own.db, queues: redis.queues, log: createLogger('test', 'silent'), followUpDays: FOLLOW_UP_DAYS }, { asOf: today, trigger: 'command' });
        const { id } = await own.db.selectFrom('outgoingMessages').select('id').executeTakeFirstOrThrow();

        // Twilio answers after a second, while PostgreSQL is down (3 s): the send is recorded
        // by a later try, once PostgreSQL is back. A lease of 30 s gives Twilio 10 s.
        twilio.queueReplies({ status: 201, body: { sid: 'SM-across-the-restart', status: 'queued' }, delayMs: 1_000 });
        const sms = worker('sms-worker', { DATABASE_URL: url.toString(), CLAIM_LEASE_SECONDS: '30' });
        await received(twilio, 1);
        await postgres.restart(3_000);

        const sent = await eventually(async () => {
          const message = await findMessage(own.db, id).catch(() => undefined);
          return message?.status === 'sent' ? message : undefined;
        }, 30_000, 'the SMS to be recorded as sent').catch((error: Error) => {
          throw new Error(`${error.message}\n${sms.output().slice(-3000)}`);
        });
        expect(sent).toMatchObject({ providerMessageId: 'SM-across-the-restart', attempts: 1 });
        expect(twilio.requests).toHaveLength(1);
        expect(sms.output()).toContain('could not record a send the provider took; trying again');
      } finally {
        await own.close();
      }
    } finally {
      await Promise.all(running.splice(0).map((s) => s.stop('SIGKILL')));
      await postgres.stop();
    }
  });
});
