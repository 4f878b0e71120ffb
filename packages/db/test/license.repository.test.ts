import { addDays, maskIdNo, type License, type LicenseInput } from '@lr/domain';
import { sql } from 'kysely';
import { freshDatabase, TEST_ENTERPRISE, TEST_RESIDENT_ID, TEST_SEALER, testCategory, testLicense, validLicense, type TestDatabase } from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertCategory } from '../src/category.repository';
import type { Database } from '../src/db';
import { upsertLicenses } from '../src/license.repository';
import { markQueued } from '../src/message.repository';
import { createDueReminders, listReminders } from '../src/reminder.repository';
import { startScan } from '../src/scan.repository';

const AS_OF = '2026-03-02';
const CATEGORY = 'food';

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await freshDatabase();
  db = database.db;
  await insertCategory(db, testCategory({ code: CATEGORY, channels: ['sms'] }));
});

afterAll(async () => {
  await database.drop();
});

/** A licence of an enterprise with a phone and an app account, expiring on 2026-04-10. */
function licence(licenseNo: string, extra: Partial<LicenseInput> = {}): License {
  return validLicense(
    testLicense({
      categoryCode: CATEGORY,
      licenseNo,
      ...TEST_ENTERPRISE,
      platformUserId: 'hn-app-1',
      validFrom: '2021-03-01',
      expiresOn: '2026-04-10',
      ...extra,
    }),
  );
}

function upsert(...licences: License[]) {
  return db.transaction().execute((trx) => upsertLicenses(trx, TEST_SEALER, licences));
}

async function stored(licenseNo: string) {
  return db.selectFrom('licenses').selectAll().where('licenseNo', '=', licenseNo).executeTakeFirstOrThrow();
}

async function renewalsOf(licenseNo: string) {
  return db
    .selectFrom('renewals as r')
    .innerJoin('licenses as l', 'l.id', 'r.licenseId')
    .select(['r.oldExpiresOn', 'r.newExpiresOn'])
    .where('l.licenseNo', '=', licenseNo)
    .execute();
}

/** Reminds every licence now due (as a scan would) and puts the messages on the queue. */
async function remindDue(): Promise<void> {
  const scanId = await startScan(db, AS_OF, 'command');
  const created = await db.transaction().execute((trx) =>
    createDueReminders(trx, scanId, AS_OF, [
      { categoryCode: CATEGORY, lead: 10, from: AS_OF, to: addDays(AS_OF, 10) },
      { categoryCode: CATEGORY, lead: 30, from: addDays(AS_OF, 11), to: addDays(AS_OF, 30) },
      { categoryCode: CATEGORY, lead: 60, from: addDays(AS_OF, 31), to: addDays(AS_OF, 60) },
    ]),
  );
  await markQueued(
    db,
    created.messages.map((m) => m.id),
  );
}

async function deliveriesOf(licenseNo: string) {
  return db
    .selectFrom('deliveries as d')
    .innerJoin('reminders as r', 'r.id', 'd.reminderId')
    .innerJoin('licenses as l', 'l.id', 'r.licenseId')
    .select(['d.id', 'd.status', 'd.messageId'])
    .where('l.licenseNo', '=', licenseNo)
    .orderBy('d.id')
    .execute();
}

async function causesOf(deliveryId: number): Promise<string[]> {
  const rows = await db
    .selectFrom('deliveryEvents')
    .select(['status', 'cause'])
    .where('deliveryId', '=', deliveryId)
    .orderBy('id')
    .execute();
  return rows.map((r) => `${r.status}: ${r.cause}`);
}

describe('upsertLicenses counts', () => {
  it('counts new licences as created and stores them as validated', async () => {
    expect(await upsert(licence('A-1'), licence('A-2', { phone: '13900139000', platformUserId: null }))).toEqual({
      created: 2,
      updated: 0,
      renewed: 0,
      unchanged: 0,
    });
    expect(await stored('A-2')).toMatchObject({
      categoryCode: CATEGORY,
      phone: '+8613900139000',
      platformUserId: null,
      expiresOn: '2026-04-10',
      validFrom: '2021-03-01',
      status: 'active',
    });
  });

  it('stores names and numbers exactly as sent: quotes, backslashes, Chinese and characters beyond the BMP', async () => {
    const names = ['"老王" \\ 餐饮店', '𠀋记 food & co', 'a\\u0041"'];
    const many = Array.from({ length: 400 }, (_, i) => licence(`TEXT-${i}`, { holderName: `${names[i % 3]}${'长'.repeat(i % 150)}` }));
    expect(await upsert(...many)).toMatchObject({ created: 400 });
    for (const i of [0, 1, 2, 149, 399]) expect((await stored(`TEXT-${i}`)).holderName).toBe(many[i]!.holderName);
  });

  it('an identical re-send is unchanged and touches nothing, also with the phone written differently', async () => {
    const noContact = { phone: null, platformUserId: null };
    await upsert(licence('B-1'), licence('B-2'), licence('B-3', noContact));
    const before = await stored('B-1');
    expect(await upsert(licence('B-1'), licence('B-2', { phone: '138 0013 8000' }), licence('B-3', noContact))).toEqual({
      created: 0,
      updated: 0,
      renewed: 0,
      unchanged: 3,
    });
    expect((await stored('B-1')).updatedAt).toEqual(before.updatedAt);
  });

  it('a changed phone is updated', async () => {
    await upsert(licence('C-1'), licence('C-2'));
    expect(await upsert(licence('C-1', { phone: '+8613900139001' }), licence('C-2'))).toEqual({
      created: 0,
      updated: 1,
      renewed: 0,
      unchanged: 1,
    });
    expect((await stored('C-1')).phone).toBe('+8613900139001');
  });

  it('a later expiry date is a renewal, recorded with the old and the new date', async () => {
    await upsert(licence('D-1'));
    expect(await upsert(licence('D-1', { expiresOn: '2031-04-10', validFrom: '2026-04-11' }))).toEqual({
      created: 0,
      updated: 0,
      renewed: 1,
      unchanged: 0,
    });
    expect((await stored('D-1')).expiresOn).toBe('2031-04-10');
    expect(await renewalsOf('D-1')).toEqual([{ oldExpiresOn: '2026-04-10', newExpiresOn: '2031-04-10' }]);
  });

  it('an earlier expiry date is a correction: updated, not a renewal', async () => {
    await upsert(licence('E-1'));
    expect(await upsert(licence('E-1', { expiresOn: '2026-04-01' }))).toEqual({ created: 0, updated: 1, renewed: 0, unchanged: 0 });
    expect((await stored('E-1')).expiresOn).toBe('2026-04-01');
    expect(await renewalsOf('E-1')).toEqual([]);
  });

  it('a revocation is updated', async () => {
    await upsert(licence('F-1'));
    expect(await upsert(licence('F-1', { status: 'revoked' }))).toEqual({ created: 0, updated: 1, renewed: 0, unchanged: 0 });
    expect((await stored('F-1')).status).toBe('revoked');
  });

  it('counts every kind in one mixed batch', async () => {
    await upsert(licence('G-1'), licence('G-2'), licence('G-3'), licence('G-4'));
    const counts = await upsert(
      licence('G-1'),
      licence('G-2', { holderName: '卢氏县东明饭店' }),
      licence('G-3', { expiresOn: '2031-04-10' }),
      licence('G-4', { expiresOn: '2026-03-20' }),
      licence('G-5'),
    );
    expect(counts).toEqual({ created: 1, updated: 2, renewed: 1, unchanged: 1 });
  });
});

describe('id numbers at rest', () => {
  it('are stored sealed, with a masked copy, and open again with the key', async () => {
    await upsert(licence('SEAL-1', { holderType: 'individual', holderIdNo: TEST_RESIDENT_ID, holderName: '张三' }));
    const { rows } = await sql`select * from licenses where license_no = 'SEAL-1'`.execute(db);
    expect(JSON.stringify(rows)).not.toContain(TEST_RESIDENT_ID);
    const row = await stored('SEAL-1');
    expect(row.holderIdMasked).toBe(maskIdNo(TEST_RESIDENT_ID));
    expect(TEST_SEALER.open(row.holderIdSealed)).toBe(TEST_RESIDENT_ID);
    expect(row.holderIdHash.equals(TEST_SEALER.hash(TEST_RESIDENT_ID))).toBe(true);
  });

  it('a re-sent id number is unchanged although sealed anew; a different one is an update', async () => {
    await upsert(licence('SEAL-2'));
    expect(await upsert(licence('SEAL-2'))).toMatchObject({ unchanged: 1, updated: 0 });
    expect(await upsert(licence('SEAL-2', { holderIdNo: '91350100M000100Y43' }))).toMatchObject({ updated: 1 });
    expect(TEST_SEALER.open((await stored('SEAL-2')).holderIdSealed)).toBe('91350100M000100Y43');
  });
});

describe('what a change means for reminders already made', () => {
  // Two licences of one enterprise (one phone): their reminders share one queued SMS.
  let nextPhone = 0;
  async function twoRemindedLicences(prefix: string) {
    const phone = `+86137001370${String(nextPhone++).padStart(2, '0')}`;
    await upsert(licence(`${prefix}-1`, { expiresOn: addDays(AS_OF, 20), phone }), licence(`${prefix}-2`, { expiresOn: addDays(AS_OF, 25), phone }));
    await remindDue();
    const [one] = await deliveriesOf(`${prefix}-1`);
    const [two] = await deliveriesOf(`${prefix}-2`);
    expect(one?.status).toBe('queued');
    expect(two?.status).toBe('queued');
    expect(one?.messageId).toBe(two?.messageId);
    return { one: one!, two: two!, phone };
  }

  async function messageStatus(id: number) {
    return (await db.selectFrom('outgoingMessages').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
  }

  it('a revocation cancels the licence’s unsent deliveries; the shared message still carries the other licence', async () => {
    const { one, two, phone } = await twoRemindedLicences('H');
    expect(await upsert(licence('H-1', { expiresOn: addDays(AS_OF, 20), phone, status: 'revoked' }))).toEqual({
      created: 0,
      updated: 1,
      renewed: 0,
      unchanged: 0,
    });
    expect((await deliveriesOf('H-1')).map((d) => d.status)).toEqual(['cancelled']);
    expect(await causesOf(one.id)).toEqual(['pending: scan', 'queued: enqueued', 'cancelled: licence revoked']);
    expect((await deliveriesOf('H-2')).map((d) => d.status)).toEqual(['queued']);
    expect(await messageStatus(two.messageId)).toBe('queued');
    const [reminder] = await listReminders(db, { licenseNo: 'H-1', limit: 10 });
    expect(reminder?.status).toBe('cancelled');
  });

  it('revoking every licence of a message cancels the message', async () => {
    const { one, phone } = await twoRemindedLicences('I');
    await upsert(
      licence('I-1', { expiresOn: addDays(AS_OF, 20), phone, status: 'revoked' }),
      licence('I-2', { expiresOn: addDays(AS_OF, 25), phone, status: 'revoked' }),
    );
    expect(await messageStatus(one.messageId)).toBe('cancelled');
  });

  it('a renewal gives the old reminders the outcome renewed and cancels their unsent deliveries', async () => {
    const { one, phone } = await twoRemindedLicences('J');
    expect(await upsert(licence('J-1', { expiresOn: addDays(AS_OF, 20 + 365 * 5), phone }))).toEqual({
      created: 0,
      updated: 0,
      renewed: 1,
      unchanged: 0,
    });
    const [reminder] = await listReminders(db, { licenseNo: 'J-1', limit: 10 });
    expect(reminder).toMatchObject({ outcome: 'renewed', status: 'cancelled', expiresOn: addDays(AS_OF, 20) });
    expect(await causesOf(one.id)).toEqual(['pending: scan', 'queued: enqueued', 'cancelled: expiry date changed']);
    const [other] = await listReminders(db, { licenseNo: 'J-2', limit: 10 });
    expect(other).toMatchObject({ outcome: 'open', status: 'scheduled' });
  });

  it('a correction cancels the unsent deliveries of the old date without calling it a renewal', async () => {
    const { one, phone } = await twoRemindedLicences('K');
    expect(await upsert(licence('K-1', { expiresOn: addDays(AS_OF, 15), phone }))).toEqual({
      created: 0,
      updated: 1,
      renewed: 0,
      unchanged: 0,
    });
    expect(await causesOf(one.id)).toEqual(['pending: scan', 'queued: enqueued', 'cancelled: expiry date changed']);
    const [reminder] = await listReminders(db, { licenseNo: 'K-1', limit: 10 });
    expect(reminder?.status).toBe('cancelled');
    expect(reminder?.outcome).toBe('open');
    expect(await renewalsOf('K-1')).toEqual([]);
  });

  it('a change that keeps the date (a new phone) leaves the deliveries alone', async () => {
    await twoRemindedLicences('L');
    // The message was addressed to the old phone; the new one only counts from the next scan.
    expect(await upsert(licence('L-1', { expiresOn: addDays(AS_OF, 20), phone: '+8613900139002' }))).toMatchObject({ updated: 1 });
    expect((await deliveriesOf('L-1')).map((d) => d.status)).toEqual(['queued']);
  });
});

describe('all or nothing', () => {
  it('a batch with a row of a missing category fails inside its transaction and writes nothing', async () => {
    await upsert(licence('Z-1', { expiresOn: addDays(AS_OF, 20) }));
    await remindDue();
    const licencesBefore = await db.selectFrom('licenses').select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow();

    await expect(
      upsert(
        licence('Z-2'),
        licence('Z-1', { expiresOn: addDays(AS_OF, 20 + 365) }), // a renewal, with its side effects
        licence('Z-3', { categoryCode: 'no-such-category' }),
      ),
    ).rejects.toThrow();

    const licencesAfter = await db.selectFrom('licenses').select(({ fn }) => fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(licencesAfter.n).toBe(licencesBefore.n);
    expect(await db.selectFrom('licenses').select('id').where('licenseNo', 'in', ['Z-2', 'Z-3']).execute()).toEqual([]);
    expect((await stored('Z-1')).expiresOn).toBe(addDays(AS_OF, 20));
    expect(await renewalsOf('Z-1')).toEqual([]);
    expect((await listReminders(db, { licenseNo: 'Z-1', limit: 10 })).map((r) => [r.outcome, r.status])).toEqual([['open', 'scheduled']]);
  });

  it('an earlier successful upsert in the same transaction is rolled back too', async () => {
    await expect(
      db.transaction().execute(async (trx) => {
        await upsertLicenses(trx, TEST_SEALER, [licence('Y-1')]);
        await upsertLicenses(trx, TEST_SEALER, [licence('Y-2', { categoryCode: 'no-such-category' })]);
      }),
    ).rejects.toThrow();
    expect(await db.selectFrom('licenses').select('id').where('licenseNo', 'in', ['Y-1', 'Y-2']).execute()).toEqual([]);
  });
});
