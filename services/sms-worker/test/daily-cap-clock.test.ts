// The daily cap counts a phone's SMS by the local day (REMINDER_TIMEZONE, Asia/Shanghai), not
// by UTC's: at 01:00 Shanghai (17:00 UTC the day before) the SMS of 23:30 Shanghai are
// yesterday's, and at 23:30 Shanghai those of 00:30 Shanghai are today's, though UTC dates
// them the other way round. The worker's clock (DeliveryDeps.now) is set, so that the instants
// are chosen, not whatever the real clock says.
import { insertCategory } from '@lr/db';
import { deliverMessage } from '@lr/delivery';
import { addDays, localDate, type License } from '@lr/domain';
import { createLogger } from '@lr/log';
import { logSender } from '@lr/sms';
import {
  freshDatabase,
  freshMessageQueues,
  scanMessages,
  testCategory,
  testLicense,
  validLicense,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smsChannel } from '../src/sms.channel';

const TIMEZONE = 'Asia/Shanghai';
const AS_OF = '2026-03-01';
const log = createLogger('daily-cap-clock-test', 'silent');
const CATEGORY = testCategory({ code: 'cap-clock', channels: ['sms'] });

let database: TestDatabase;
let queues: TestQueues;
let licenceSeq = 0;

beforeAll(async () => {
  [database, queues] = await Promise.all([freshDatabase(), freshMessageQueues()]);
  await insertCategory(database.db, CATEGORY);
});

afterAll(async () => {
  await Promise.all([database?.drop(), queues?.cleanup()]);
});

/** A new SMS message to `phone`: a licence of its own, scanned on its own. */
async function messageTo(phone: string): Promise<number> {
  licenceSeq += 1;
  const licence: License = validLicense(testLicense({ categoryCode: CATEGORY.code, licenseNo: `CAP-${licenceSeq}`, phone, expiresOn: '2026-03-31' }));
  const [message] = await scanMessages({ db: database.db, queues: queues.queues }, [licence], AS_OF);
  return message!.id;
}

/** Delivers a message as the worker does at the instant `now`. */
function deliverAt(id: number, now: Date) {
  const channel = smsChannel(logSender(log), { db: database.db, maxPerRecipientPerDay: 3, timezone: TIMEZONE });
  const deps = { db: database.db, log, workerId: 'cap-clock-worker', claimLeaseSeconds: 60, maxClaims: 8, linkBaseUrl: 'https://reminders.example.gov.cn', now: () => now };
  return deliverMessage(deps, channel, id, false);
}

/** Three SMS sent to `phone` at `at` (as recorded: their sent_at). */
async function threeSentAt(phone: string, at: Date) {
  for (let i = 0; i < 3; i++) {
    const id = await messageTo(phone);
    expect(await deliverAt(id, at)).toMatchObject({ outcome: 'sent' });
    await sql`update outgoing_messages set sent_at = ${at} where id = ${id}`.execute(database.db);
  }
}

/** A day ahead of the real clock, so that no real SMS of the test run falls on it. */
const day = addDays(localDate(TIMEZONE), 2);
const shanghai = (date: string, time: string) => new Date(`${date}T${time}+08:00`);

describe('the daily cap, by the local day', () => {
  it("at 01:00 Shanghai, yesterday's 23:30 SMS do not count, though UTC dates both the same day", async () => {
    const phone = '+8613811110001';
    const before = shanghai(addDays(day, -1), '23:30:00');
    const now = shanghai(day, '01:00:00');
    expect(before.toISOString().slice(0, 10)).toBe(now.toISOString().slice(0, 10));
    await threeSentAt(phone, before);
    const fourth = await messageTo(phone);
    expect(await deliverAt(fourth, now)).toMatchObject({ outcome: 'sent' });
  });

  it("at 23:30 Shanghai, that day's 00:30 SMS count, though UTC dates them the day before", async () => {
    const phone = '+8613811110002';
    const early = shanghai(day, '00:30:00');
    const now = shanghai(day, '23:30:00');
    expect(early.toISOString().slice(0, 10)).not.toBe(now.toISOString().slice(0, 10));
    await threeSentAt(phone, early);
    const fourth = await messageTo(phone);
    // Held to the next Shanghai midnight, untried.
    expect(await deliverAt(fourth, now)).toEqual({ outcome: 'held', until: shanghai(addDays(day, 1), '00:00:00') });
    const [held] = await database.db.selectFrom('outgoingMessages').select(['status', 'attempts']).where('id', '=', fourth).execute();
    expect(held).toEqual({ status: 'queued', attempts: 0 });
  });
});
