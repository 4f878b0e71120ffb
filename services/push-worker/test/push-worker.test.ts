import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { findMessage, insertCategory, listReminders } from '@lr/db';
import { deliverMessage, messageDelivery, type Channel } from '@lr/delivery';
import type { Category, License, LicenseInput, PushContent } from '@lr/domain';
import type { MessageQueues } from '@lr/jobs';
import { createLogger } from '@lr/log';
import {
  eventually,
  failSentRecords,
  fakePushGateway,
  freshDatabase,
  freshMessageQueues,
  scanMessages,
  TEST_PUSH_SECRET,
  testLicense,
  validLicense,
  type FakePushGateway,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { gatewaySender } from '../src/gateway.sender';
import { pushChannel } from '../src/push.channel';

const AS_OF = '2026-03-01';
const log = createLogger('push-worker-test', 'silent');


const CATEGORY: Category = {
  code: 'public-hygiene',
  name: '公共场所卫生许可证',
  leadDays: [60, 30, 10],
  channels: ['push'],
  smsTemplate: '【卢氏县政务服务】{licenseNo}将于{expiresOn}到期',
  pushTitle: '{licenseName}即将到期',
  pushBody: '您的{licenseName}（{licenseNo}）将于{expiresOn}到期，还剩{daysLeft}天，咨询电话{consultPhone}。',
  renewalUrl: 'https://www.hnzwfw.gov.cn/portal/smx/lushi/renew/public-hygiene',
  consultPhone: '0398-7823062',
  enabled: true,
};

let database: TestDatabase;
let queue: TestQueues;
let queues: MessageQueues;
let gateway: FakePushGateway;
let channel: ReturnType<typeof pushChannel>;
const LINK_BASE = 'https://reminders.example.gov.cn';
const deps = () => ({ db: database.db, log, workerId: 'push-w1', claimLeaseSeconds: 60, maxClaims: 8, linkBaseUrl: LINK_BASE });

let seq = 0;
/** A licence of an app user of its own, with no phone, due in 30 days on AS_OF. */
function licence(overrides: Partial<LicenseInput> = {}): License {
  seq += 1;
  return validLicense(
    testLicense({
      categoryCode: CATEGORY.code,
      holderName: '卢氏县悦来宾馆',
      phone: null,
      platformUserId: `hn-user-${seq}`,
      expiresOn: '2026-03-31',
      ...overrides,
    }),
  );
}

/** Stores one licence, scans AS_OF, and returns the id of the one push message created. */
async function seed(l: License): Promise<number> {
  const messages = await scanMessages({ db: database.db, queues }, [l], AS_OF);
  expect(messages).toEqual([expect.objectContaining({ channel: 'push', recipient: l.platformUserId })]);
  return messages[0]!.id;
}

function inboxRows(messageId: number) {
  return database.db.selectFrom('inboxMessages').selectAll().where('messageId', '=', messageId).execute();
}

async function message(id: number) {
  const found = await findMessage(database.db, id);
  if (!found) throw new Error(`message ${id} not found`);
  return found;
}

beforeAll(async () => {
  database = await freshDatabase();
  queue = await freshMessageQueues();
  ({ queues } = queue);
  await insertCategory(database.db, CATEGORY);
});

afterAll(async () => {
  await queue?.cleanup();
  await database?.drop();
});

beforeEach(async () => {
  gateway = await fakePushGateway();
  channel = pushChannel(database.db, gatewaySender({ provider: 'gateway', url: gateway.url, secret: TEST_PUSH_SECRET }));
});

afterEach(async () => {
  await gateway.close();
});

describe('deliverMessage with the push gateway sender', () => {
  it('sends one signed push with the user, the rendered title and body, the renewal link and the idempotency key', async () => {
    const l = licence();
    const id = await seed(l);
    const result = await deliverMessage(deps(), channel, id, false);
    expect(result.outcome).toBe('sent');
    // The message's personal renewal link, not the category's.
    const link = `${LINK_BASE}/r/${(await message(id)).linkToken}`;
    expect(link).toMatch(/\/r\/[A-Za-z0-9_-]{16}$/);

    const pushes = gateway.pushes();
    expect(pushes).toHaveLength(1);
    const [push] = pushes;
    expect(push).toEqual({
      userId: l.platformUserId,
      title: '公共场所卫生许可证即将到期',
      body: `您的公共场所卫生许可证（${l.licenseNo}）将于2026-03-31到期，还剩30天，咨询电话0398-7823062。`,
      url: link,
      idempotencyKey: `push-${id}`,
      signatureValid: true,
    });
    const [request] = gateway.requests;
    expect(request!.method).toBe('POST');
    expect(request!.headers['content-type']).toMatch(/application\/json/);
    expect(Math.abs(Number(request!.headers['x-timestamp']) - Date.now() / 1000)).toBeLessThan(60);

    expect(await message(id)).toMatchObject({ status: 'sent', attempts: 1, title: push!.title, body: push!.body, url: link });
    const [reminder] = await listReminders(database.db, { licenseNo: l.licenseNo, limit: 10 });
    expect(reminder?.deliveries).toEqual([expect.objectContaining({ channel: 'push', status: 'sent' })]);

    const inbox = await inboxRows(id);
    expect(inbox).toEqual([
      expect.objectContaining({ platformUserId: l.platformUserId, title: push!.title, body: push!.body, url: link, readAt: null }),
    ]);
  });

  it('a push signed with another secret would not pass the gateway’s check', async () => {
    const other = pushChannel(database.db, gatewaySender({ provider: 'gateway', url: gateway.url, secret: 'not-the-shared-secret-0123456789' }));
    const id = await seed(licence());
    await deliverMessage(deps(), other, id, false);
    expect(gateway.pushes().map((p) => p.signatureValid)).toEqual([false]);
  });

  it('writes the inbox message before it calls the gateway', async () => {
    const id = await seed(licence());
    gateway.queueReplies({ status: 202, body: { accepted: true }, delayMs: 400 });
    const delivering = deliverMessage(deps(), channel, id, false);
    await eventually(() => (gateway.requests.length === 1 ? true : undefined), 5_000, 'the push at the gateway');
    // the gateway has the request but has not answered yet
    expect(await inboxRows(id)).toHaveLength(1);
    expect((await delivering).outcome).toBe('sent');
  });

  it('keeps the inbox message when the gateway is down (503), and retries with the same idempotency key', async () => {
    const l = licence();
    const id = await seed(l);
    gateway.queueReplies({ status: 503, body: { error: 'maintenance' } });

    const first = await deliverMessage(deps(), channel, id, false);
    expect(first).toMatchObject({ outcome: 'retry', code: 'HTTP 503' });
    expect(await message(id)).toMatchObject({ status: 'queued', errorCode: 'HTTP 503' });
    const link = `${LINK_BASE}/r/${(await message(id)).linkToken}`;
    expect(await inboxRows(id)).toEqual([expect.objectContaining({ platformUserId: l.platformUserId, url: link })]);

    const second = await deliverMessage(deps(), channel, id, false);
    expect(second.outcome).toBe('sent');
    const pushes = gateway.pushes();
    expect(pushes).toHaveLength(2);
    expect(pushes.map((p) => p.idempotencyKey)).toEqual([`push-${id}`, `push-${id}`]);
    // the same push, its renewal link included, on the retry
    expect(pushes[1]).toEqual(pushes[0]);
    expect(pushes[0]!.url).toBe(link);
    expect(await inboxRows(id)).toHaveLength(1);
    expect(await message(id)).toMatchObject({ status: 'sent', attempts: 2, errorCode: null });
  });

  it('fails at once on a 400, after one call', async () => {
    const l = licence();
    const id = await seed(l);
    gateway.queueReplies({ status: 400, body: { error: 'unknown userId' } });
    const result = await deliverMessage(deps(), channel, id, false);
    expect(result).toMatchObject({ outcome: 'failed', code: 'HTTP 400' });
    expect(gateway.requests).toHaveLength(1);
    expect(await message(id)).toMatchObject({ status: 'failed', errorCode: 'HTTP 400' });
    expect((await message(id)).errorMessage).toContain('unknown userId');
    const [reminder] = await listReminders(database.db, { licenseNo: l.licenseNo, limit: 10 });
    expect(reminder).toMatchObject({ status: 'failed', deliveries: [expect.objectContaining({ status: 'failed', errorCode: 'HTTP 400' })] });

    expect(await deliverMessage(deps(), channel, id, false)).toEqual({ outcome: 'skipped' });
    expect(gateway.requests).toHaveLength(1);
  });

  it('treats a gateway that does not answer in time as transient', async () => {
    const slow = pushChannel(database.db, gatewaySender({ provider: 'gateway', url: gateway.url, secret: TEST_PUSH_SECRET }, 200));
    const id = await seed(licence());
    gateway.queueReplies({ status: 202, body: { accepted: true }, delayMs: 1_000 });
    expect((await deliverMessage(deps(), slow, id, false)).outcome).toBe('retry');
    expect(await message(id)).toMatchObject({ status: 'queued' });
    expect(await inboxRows(id)).toHaveLength(1);
  });

  it('treats a gateway it cannot reach as transient, with the connection error as the code', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = pushChannel(database.db, gatewaySender({ provider: 'gateway', url: `http://127.0.0.1:${port}/push`, secret: TEST_PUSH_SECRET }));
    const id = await seed(licence());
    expect(await deliverMessage(deps(), unreachable, id, false)).toMatchObject({ outcome: 'retry', code: 'ECONNREFUSED' });
    expect(await message(id)).toMatchObject({ status: 'queued', errorCode: 'ECONNREFUSED' });
    expect(await inboxRows(id)).toHaveLength(1);
  });

  it.each([302, 307])('does not follow a %i of the gateway: the push fails for good, naming the redirect, and is never recorded as sent', async (status) => {
    const l = licence();
    const id = await seed(l);
    const location = `https://elsewhere.example.com/collect-${status}`;
    gateway.queueReplies({ status, headers: { location } });
    const result = await deliverMessage(deps(), channel, id, false);
    expect(result).toMatchObject({ outcome: 'failed', code: `HTTP ${status}` });
    // one signed POST, to the gateway only: no GET after a 302, no second POST after a 307
    expect(gateway.requests.map((r) => [r.method, r.path])).toEqual([['POST', '/']]);
    const failed = await message(id);
    expect(failed).toMatchObject({ status: 'failed', errorCode: `HTTP ${status}`, sentAt: null, providerMessageId: null });
    expect(failed.errorMessage).toContain(String(status));
    expect(failed.errorMessage).toContain(location);
    const [reminder] = await listReminders(database.db, { licenseNo: l.licenseNo, limit: 10 });
    expect(reminder?.deliveries).toEqual([expect.objectContaining({ status: 'failed', errorCode: `HTTP ${status}`, sentAt: null })]);
    // a later run of the job does not try again
    expect(await deliverMessage(deps(), channel, id, false)).toEqual({ outcome: 'skipped' });
    expect(gateway.requests).toHaveLength(1);
  });

  it('retries a 429 and fails it on the last attempt', async () => {
    const id = await seed(licence());
    gateway.queueReplies({ status: 429, body: { error: 'slow down' } }, { status: 429, body: { error: 'slow down' } });
    expect((await deliverMessage(deps(), channel, id, false)).outcome).toBe('retry');
    expect(await deliverMessage(deps(), channel, id, true)).toMatchObject({ outcome: 'failed', code: 'HTTP 429' });
    expect(gateway.requests).toHaveLength(2);
  });
});

describe('pushes of concurrent jobs, whose statements are shared', () => {
  /** Four push messages, each to an app user of its own. */
  async function fourMessages(): Promise<number[]> {
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(await seed(licence()));
    return ids;
  }

  /** The channel, with every send held until all `n` have the gateway's answer: their records then go together. */
  function togetherAfterSend(n: number): Channel<PushContent> {
    let arrived = 0;
    let release!: () => void;
    const all = new Promise<void>((resolve) => (release = resolve));
    return {
      ...channel,
      async send(message, content) {
        const sent = await channel.send(message, content);
        if (++arrived === n) release();
        await all;
        return sent;
      },
    };
  }

  it('each message keeps its own inbox row, content and provider id', async () => {
    const ids = await fourMessages();
    const deliver = messageDelivery(deps(), togetherAfterSend(4));
    const results = await Promise.all(ids.map((id) => deliver(id, false)));
    expect(results.map((r) => r.outcome)).toEqual(['sent', 'sent', 'sent', 'sent']);
    const messages = await Promise.all(ids.map(message));
    // one claim statement took all four
    expect(new Set(messages.map((m) => m.lockedBy)).size).toBe(1);
    for (const m of messages) {
      const [inbox] = await inboxRows(m.id);
      expect(inbox).toMatchObject({ platformUserId: m.recipient, title: m.title, body: m.body, url: m.url });
      expect(m.body).toContain(CATEGORY.consultPhone);
      const push = gateway.pushes().find((p) => p.idempotencyKey === `push-${m.id}`);
      expect(push).toMatchObject({ userId: m.recipient, title: m.title, body: m.body });
      expect(m.providerMessageId).toBe(`push-${m.id}`);
    }
    expect(gateway.requests).toHaveLength(4);
  });

  it('a record that fails for one message fails none of the others: each is recorded, each push made once', async () => {
    const ids = await fourMessages();
    const bad = ids[2]!;
    // The move to 'sent' of one message fails twice: in the shared statement, then on its own.
    const refusing = await failSentRecords(database.db, { times: 2, messageId: bad });
    try {
      const deliver = messageDelivery(deps(), togetherAfterSend(4));
      const results = await Promise.all(ids.map((id) => deliver(id, false)));
      expect(results.map((r) => r.outcome)).toEqual(['sent', 'sent', 'sent', 'sent']);
      expect((await Promise.all(ids.map(message))).map((m) => m.status)).toEqual(['sent', 'sent', 'sent', 'sent']);
      expect(gateway.requests).toHaveLength(4);
      // the shared statement, the bad message's own, and its second try, which passed
      expect(await refusing.tries()).toBe(3);
    } finally {
      await refusing.remove();
    }
  });
});
