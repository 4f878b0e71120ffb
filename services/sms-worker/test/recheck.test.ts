// What the worker checks again when it claims a message: a licence revoked or a category
// disabled after the scan (written straight to the tables, as a change the scan's cancellation
// missed would be) is not sent. A message left with no licence due is cancelled; one with
// a licence still due goes with that one alone, and the other's delivery is dropped.
import { insertCategory } from '@lr/db';
import { deliverMessage } from '@lr/delivery';
import { createLogger } from '@lr/log';
import { twilioSender } from '@lr/sms';
import {
  fakeTwilio,
  freshDatabase,
  freshMessageQueues,
  scanMessages,
  TEST_TWILIO,
  testCategory,
  testLicense,
  validLicense,
  type FakeTwilio,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smsChannel } from '../src/sms.channel';

const AS_OF = '2026-03-01';
const log = createLogger('recheck-test', 'silent');
const FOOD = testCategory({ code: 'rc-food', channels: ['sms'], smsTemplate: '许可证{licenseNo}将于{expiresOn}到期' });
const DRUGS = testCategory({ code: 'rc-drugs', channels: ['sms'], smsTemplate: '许可证{licenseNo}将于{expiresOn}到期' });

let database: TestDatabase;
let queues: TestQueues;
let twilio: FakeTwilio;

beforeAll(async () => {
  [database, queues, twilio] = await Promise.all([freshDatabase(), freshMessageQueues(), fakeTwilio()]);
  await insertCategory(database.db, FOOD);
  await insertCategory(database.db, DRUGS);
});

afterAll(async () => {
  await Promise.all([database?.drop(), queues?.cleanup(), twilio?.close()]);
});

/** Stores the licences (one phone) and scans: the one SMS message made for them. */
async function messageFor(...licences: { licenseNo: string; categoryCode: string; phone: string }[]): Promise<number> {
  const scanned = await scanMessages(
    { db: database.db, queues: queues.queues },
    licences.map((l) => validLicense(testLicense({ ...l, expiresOn: '2026-03-31' }))),
    AS_OF,
  );
  const messages = scanned.filter((m) => m.channel === 'sms');
  expect(messages).toHaveLength(1);
  return messages[0]!.id;
}

function deliver(id: number) {
  const sender = twilioSender({ provider: 'twilio', ...TEST_TWILIO, messagingServiceSid: undefined, apiBaseUrl: twilio.url }, 'https://reminders.example.gov.cn/webhooks/twilio/status');
  const channel = smsChannel(sender, { db: database.db, maxPerRecipientPerDay: 3, timezone: 'Asia/Shanghai' });
  return deliverMessage({ db: database.db, log, workerId: 'recheck-worker', claimLeaseSeconds: 60, maxClaims: 8, linkBaseUrl: 'https://reminders.example.gov.cn' }, channel, id, false);
}

/** Each delivery of the message: its licence and status. */
async function deliveries(id: number) {
  const { rows } = await sql<{ licenseNo: string; status: string }>`
    select l.license_no as "licenseNo", d.status from deliveries d
      join reminders r on r.id = d.reminder_id join licenses l on l.id = r.license_id
     where d.message_id = ${id} order by l.license_no`.execute(database.db);
  return rows;
}

const smsTo = (phone: string) => twilio.sms().filter((s) => s.to === phone);

describe('the worker checks the licences again when it claims a message', () => {
  it('cancels a message whose only licence was revoked after the scan, sending nothing', async () => {
    const phone = '+8613822220001';
    const id = await messageFor({ licenseNo: 'RC-REVOKED', categoryCode: FOOD.code, phone });
    await sql`update licenses set status = 'revoked' where license_no = 'RC-REVOKED'`.execute(database.db);
    expect(await deliver(id)).toEqual({ outcome: 'cancelled' });
    expect(smsTo(phone)).toEqual([]);
    expect(await deliveries(id)).toEqual([{ licenseNo: 'RC-REVOKED', status: 'cancelled' }]);
  });

  it('cancels a message whose category was disabled after the scan', async () => {
    const phone = '+8613822220002';
    const id = await messageFor({ licenseNo: 'RC-DISABLED', categoryCode: DRUGS.code, phone });
    await sql`update categories set enabled = false where code = ${DRUGS.code}`.execute(database.db);
    try {
      expect(await deliver(id)).toEqual({ outcome: 'cancelled' });
      expect(smsTo(phone)).toEqual([]);
      expect(await deliveries(id)).toEqual([{ licenseNo: 'RC-DISABLED', status: 'cancelled' }]);
    } finally {
      await sql`update categories set enabled = true where code = ${DRUGS.code}`.execute(database.db);
    }
  });

  it('sends a message of two licences with the one still due alone when the other was renewed meanwhile', async () => {
    const phone = '+8613822220003';
    const id = await messageFor({ licenseNo: 'RC-DUE', categoryCode: FOOD.code, phone }, { licenseNo: 'RC-RENEWED', categoryCode: FOOD.code, phone });
    expect(await deliveries(id)).toEqual([
      { licenseNo: 'RC-DUE', status: 'queued' },
      { licenseNo: 'RC-RENEWED', status: 'queued' },
    ]);
    // Renewed: a new expiry date, the reminder's no longer matches.
    await sql`update licenses set expires_on = '2029-03-31' where license_no = 'RC-RENEWED'`.execute(database.db);
    expect(await deliver(id)).toMatchObject({ outcome: 'sent' });
    const [sms] = smsTo(phone);
    expect(smsTo(phone)).toHaveLength(1);
    expect(sms!.body).toContain('RC-DUE');
    expect(sms!.body).not.toContain('RC-RENEWED');
    expect(await deliveries(id)).toEqual([
      { licenseNo: 'RC-DUE', status: 'sent' },
      { licenseNo: 'RC-RENEWED', status: 'cancelled' },
    ]);
  });
});
