// Push rules the main push tests leave out, through the real gateway sender against the fake
// gateway: one push lists a holder's several licences (docs/rules.md: one message per
// recipient and scan); HTTP 408 is retried, not failed; a transient error on the last attempt
// fails the message for good.
import { findMessage, insertCategory } from '@lr/db';
import { deliverMessage } from '@lr/delivery';
import type { Category } from '@lr/domain';
import { createLogger } from '@lr/log';
import {
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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewaySender } from '../src/gateway.sender';
import { pushChannel } from '../src/push.channel';

const AS_OF = '2026-03-01';
const LINK_BASE = 'https://reminders.example.gov.cn';
const log = createLogger('push-rules-test', 'silent');

const pushCategory = (code: string, name: string, consultPhone: string): Category => ({
  code,
  name,
  leadDays: [60, 30, 10],
  channels: ['push'],
  smsTemplate: '【卢氏县政务服务】{licenseNo}将于{expiresOn}到期',
  pushTitle: '{licenseName}即将到期',
  pushBody: '您的{licenseName}（{licenseNo}）将于{expiresOn}到期，还剩{daysLeft}天。',
  renewalUrl: `https://www.hnzwfw.gov.cn/portal/smx/lushi/renew/${code}`,
  consultPhone,
  enabled: true,
});
const HYGIENE = pushCategory('pr-hygiene', '公共场所卫生许可证', '0398-7823062');
const FOOD = pushCategory('pr-food', '食品经营许可证', '0398-7856315');

let database: TestDatabase;
let queues: TestQueues;
let gateway: FakePushGateway;
let userSeq = 0;

beforeAll(async () => {
  [database, queues, gateway] = await Promise.all([freshDatabase(), freshMessageQueues(), fakePushGateway()]);
  await insertCategory(database.db, HYGIENE);
  await insertCategory(database.db, FOOD);
});

afterAll(async () => {
  await Promise.all([database?.drop(), queues?.cleanup(), gateway?.close()]);
});

/** Stores the licences of one new app user and scans: the one push message made for them. */
async function pushFor(...licences: { licenseNo: string; categoryCode: string; expiresOn: string }[]): Promise<{ id: number; userId: string }> {
  userSeq += 1;
  const userId = `hn-rules-${userSeq}`;
  const messages = await scanMessages(
    { db: database.db, queues: queues.queues },
    licences.map((l) => validLicense(testLicense({ ...l, holderName: '卢氏县悦来宾馆', phone: null, platformUserId: userId }))),
    AS_OF,
  );
  expect(messages).toEqual([expect.objectContaining({ channel: 'push', recipient: userId })]);
  return { id: messages[0]!.id, userId };
}

const channel = () => pushChannel(database.db, gatewaySender({ provider: 'gateway', url: gateway.url, secret: TEST_PUSH_SECRET }));
const deliver = (id: number, lastAttempt = false) =>
  deliverMessage({ db: database.db, log, workerId: 'push-rules', claimLeaseSeconds: 60, maxClaims: 8, linkBaseUrl: LINK_BASE }, channel(), id, lastAttempt);

describe('the push worker', () => {
  it("lists a holder's two licences in one push: each with its number, date and days left, in expiry order, one link, each consultation phone", async () => {
    const { id, userId } = await pushFor(
      { licenseNo: 'PR-FOOD-30', categoryCode: FOOD.code, expiresOn: '2026-03-31' },
      { licenseNo: 'PR-HYG-10', categoryCode: HYGIENE.code, expiresOn: '2026-03-11' },
    );
    expect(await deliver(id)).toMatchObject({ outcome: 'sent', providerMessageId: `push-${id}` });
    const link = `${LINK_BASE}/r/${(await findMessage(database.db, id))!.linkToken}`;
    const pushes = gateway.pushes().filter((p) => p.userId === userId);
    expect(pushes).toEqual([
      {
        userId,
        title: '您有2个证照即将到期',
        body:
          '1. 公共场所卫生许可证（PR-HYG-10）2026-03-11到期，剩10天\n' +
          '2. 食品经营许可证（PR-FOOD-30）2026-03-31到期，剩30天\n' +
          `续证办理：${link} 咨询电话：0398-7823062、0398-7856315`,
        url: link,
        idempotencyKey: `push-${id}`,
        signatureValid: true,
      },
    ]);
    // The in-app inbox holds the same push once.
    const inbox = await database.db.selectFrom('inboxMessages').select(['platformUserId', 'title', 'body']).where('messageId', '=', id).execute();
    expect(inbox).toEqual([{ platformUserId: userId, title: pushes[0]!.title, body: pushes[0]!.body }]);
  });

  it('retries a push the gateway answered 408 (a time-out, not a refusal), and sends it on the next try', async () => {
    const { id, userId } = await pushFor({ licenseNo: 'PR-408', categoryCode: HYGIENE.code, expiresOn: '2026-03-31' });
    gateway.queueReplies({ status: 408, body: { error: 'request timeout' } });
    expect(await deliver(id)).toMatchObject({ outcome: 'retry', code: 'HTTP 408' });
    expect(await findMessage(database.db, id)).toMatchObject({ status: 'queued', attempts: 1, errorCode: 'HTTP 408', lockedBy: null });
    expect(await deliver(id)).toMatchObject({ outcome: 'sent' });
    expect(await findMessage(database.db, id)).toMatchObject({ status: 'sent', attempts: 2 });
    // Both tries carried the same idempotency key: the app shows the push once.
    expect(new Set(gateway.pushes().filter((p) => p.userId === userId).map((p) => p.idempotencyKey))).toEqual(new Set([`push-${id}`]));
  });

  it('fails a push for good when a transient error meets its last attempt', async () => {
    const { id } = await pushFor({ licenseNo: 'PR-LAST', categoryCode: HYGIENE.code, expiresOn: '2026-03-31' });
    gateway.queueReplies({ status: 503, body: { error: 'unavailable' } });
    expect(await deliver(id, true)).toMatchObject({ outcome: 'failed', code: 'HTTP 503' });
    expect(await findMessage(database.db, id)).toMatchObject({ status: 'failed', errorCode: 'HTTP 503', attempts: 1 });
  });
});
