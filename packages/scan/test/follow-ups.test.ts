// Follow-ups (docs/rules.md, "Follow-up"): when each opens, that it opens once per cycle
// whichever process notices first, and that it closes by itself.
import {
  findFollowUp,
  insertCategory,
  markFailed,
  recordReceipt,
  sweepFollowUps,
  upsertLicenses,
  type Database,
} from '@lr/db';
import { addDays, type LicenseInput } from '@lr/domain';
import { createLogger } from '@lr/log';
import {
  claimMessage,
  finishMessage,
  FOLLOW_UP_DAYS,
  freshDatabase,
  freshMessageQueues,
  TEST_SEALER,
  testCategory,
  testLicense,
  validLicense,
  type MessageEnd,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runScan } from '../src/scan';

const D = '2026-03-02';

let database: TestDatabase;
let redis: TestQueues;
let licenceNumber = 0;

beforeEach(async () => {
  [database, redis] = await Promise.all([freshDatabase(), freshMessageQueues()]);
  await insertCategory(db(), testCategory({ code: 'both', channels: ['sms', 'push'] }));
  await insertCategory(db(), testCategory({ code: 'sms', channels: ['sms'] }));
});

afterEach(async () => {
  await redis.cleanup();
  await database.drop();
});

function db(): Database {
  return database.db;
}

function scan(asOf: string) {
  return runScan({ db: db(), queues: redis.queues, log: createLogger('test', 'silent'), followUpDays: FOLLOW_UP_DAYS }, { asOf, trigger: 'command' });
}

/** A licence, stored; its number is returned. */
async function licence(extra: Partial<LicenseInput>): Promise<LicenseInput> {
  const input = testLicense({ categoryCode: 'sms', licenseNo: `F-${++licenceNumber}`, phone: `+861380013${String(8000 + licenceNumber)}`, ...extra });
  await write(input);
  return input;
}

async function write(input: LicenseInput) {
  return db().transaction().execute((trx) => upsertLicenses(trx, TEST_SEALER, [validLicense(input)]));
}

/** The licence's message of a scan on a channel. */
async function messageOf(licenseNo: string, asOf: string, channel: 'sms' | 'push'): Promise<number> {
  const { rows } = await sql<{ id: number }>`
    select d.message_id as id from deliveries d join reminders r on r.id = d.reminder_id join licenses l on l.id = r.license_id
     where l.license_no = ${licenseNo} and r.as_of = ${asOf}::date and d.channel = ${channel}`.execute(db());
  expect(rows, `${licenseNo} ${asOf} ${channel}`).toHaveLength(1);
  return rows[0]!.id;
}

async function end(licenseNo: string, asOf: string, channel: 'sms' | 'push', how: MessageEnd) {
  return finishMessage(db(), await messageOf(licenseNo, asOf, channel), how);
}

interface FollowUpRow {
  id: number;
  licenseNo: string;
  expiresOn: string;
  reason: string;
  status: string;
  resolution: string | null;
}

async function followUps(): Promise<FollowUpRow[]> {
  const { rows } = await sql<FollowUpRow>`
    select f.id, l.license_no, f.expires_on, f.reason, f.status, f.resolution
      from follow_ups f join licenses l on l.id = f.license_id order by f.id`.execute(db());
  return rows;
}

async function followUpOf(licenseNo: string): Promise<FollowUpRow | undefined> {
  return (await followUps()).find((f) => f.licenseNo === licenseNo);
}

describe('follow-ups open', () => {
  it('unreached: when the one delivery of a reminder fails, by the very move that records it', async () => {
    const { licenseNo } = await licence({ expiresOn: addDays(D, 30) });
    await scan(D);
    expect(await followUps()).toEqual([]);
    await end(licenseNo, D, 'sms', 'failed');
    expect(await followUps()).toEqual([expect.objectContaining({ licenseNo, expiresOn: addDays(D, 30), reason: 'unreached', status: 'open', resolution: null })]);
  });

  it('unreached: when a receipt says undelivered, and not when it says delivered', async () => {
    const lost = await licence({ expiresOn: addDays(D, 30) });
    const fine = await licence({ expiresOn: addDays(D, 30) });
    await scan(D);
    await end(lost.licenseNo, D, 'sms', 'undelivered');
    await end(fine.licenseNo, D, 'sms', 'delivered');
    expect((await followUps()).map((f) => [f.licenseNo, f.reason])).toEqual([[lost.licenseNo, 'unreached']]);
  });

  it('unreached: only once every delivery of the reminder failed, whichever fails last', async () => {
    const { licenseNo } = await licence({ categoryCode: 'both', platformUserId: 'u-1', expiresOn: addDays(D, 30) });
    await scan(D);
    await end(licenseNo, D, 'push', 'failed');
    expect(await followUps()).toEqual([]);
    await end(licenseNo, D, 'sms', 'undelivered');
    expect((await followUps()).map((f) => f.reason)).toEqual(['unreached']);
  });

  it('unreached: not while the push of the same reminder reached the holder', async () => {
    const { licenseNo } = await licence({ categoryCode: 'both', platformUserId: 'u-2', expiresOn: addDays(D, 30) });
    await scan(D);
    await end(licenseNo, D, 'push', 'sent');
    await end(licenseNo, D, 'sms', 'failed');
    expect(await followUps()).toEqual([]);
  });

  it('unreached: not when an earlier reminder of the cycle reached the holder', async () => {
    const { licenseNo } = await licence({ expiresOn: addDays(D, 40) });
    await scan(D);
    await end(licenseNo, D, 'sms', 'delivered');
    const later = addDays(D, 15);
    await scan(later);
    await end(licenseNo, later, 'sms', 'failed');
    expect(await followUps()).toEqual([]);
  });

  it('unreached: by the scan, for a reminder with no usable channel', async () => {
    const { licenseNo } = await licence({ phone: null, expiresOn: addDays(D, 20) });
    await scan(D);
    expect(await followUps()).toEqual([expect.objectContaining({ licenseNo, reason: 'unreached', status: 'open' })]);
  });

  it('not_renewed: by the scan that finds a reached cycle open FOLLOW_UP_DAYS days before its date, not a day earlier', async () => {
    const { licenseNo } = await licence({ expiresOn: addDays(D, 10) });
    await scan(D);
    await end(licenseNo, D, 'sms', 'delivered');
    await scan(addDays(D, 10 - FOLLOW_UP_DAYS - 1));
    expect(await followUps()).toEqual([]);
    await scan(addDays(D, 10 - FOLLOW_UP_DAYS));
    expect(await followUps()).toEqual([expect.objectContaining({ licenseNo, reason: 'not_renewed', status: 'open' })]);
  });

  it('not_renewed: by the sweep, for a cycle reached after the day\'s scan', async () => {
    // First seen 2 days before its date: the scan makes its reminder, which reaches the holder later that day.
    const { licenseNo } = await licence({ expiresOn: addDays(D, 2) });
    await scan(D);
    expect(await followUps()).toEqual([]);
    await end(licenseNo, D, 'sms', 'sent');
    expect(await sweepFollowUps(db(), D, FOLLOW_UP_DAYS)).toEqual({ opened: 1, closed: 0 });
    expect(await followUps()).toEqual([expect.objectContaining({ licenseNo, reason: 'not_renewed' })]);
    expect(await sweepFollowUps(db(), D, FOLLOW_UP_DAYS)).toEqual({ opened: 0, closed: 0 });
  });

  it('once per cycle: a later cause finds the first follow-up there', async () => {
    const { licenseNo } = await licence({ expiresOn: addDays(D, 30) });
    await scan(D);
    await end(licenseNo, D, 'sms', 'failed');
    // The 10-day reminder reaches the holder; close to the date the cycle is reached and open.
    const tenDays = addDays(D, 20);
    await scan(tenDays);
    await end(licenseNo, tenDays, 'sms', 'delivered');
    await scan(addDays(D, 30 - FOLLOW_UP_DAYS));
    await sweepFollowUps(db(), addDays(D, 30 - FOLLOW_UP_DAYS), FOLLOW_UP_DAYS);
    expect((await followUps()).map((f) => [f.licenseNo, f.reason, f.status])).toEqual([[licenseNo, 'unreached', 'open']]);
  });
});

describe('follow-ups close by themselves', () => {
  it('renewed when the licence is renewed, revoked when revoked, expired when a scan finds the date passed', async () => {
    const renewed = await licence({ phone: null, expiresOn: addDays(D, 20) });
    const revoked = await licence({ phone: null, expiresOn: addDays(D, 20) });
    const lapsed = await licence({ phone: null, expiresOn: addDays(D, 20) });
    await scan(D);
    expect((await followUps()).map((f) => f.status)).toEqual(['open', 'open', 'open']);
    await write({ ...renewed, expiresOn: addDays(D, 385) });
    await write({ ...revoked, status: 'revoked' });
    await scan(addDays(D, 21));
    expect((await followUps()).map((f) => [f.licenseNo, f.status, f.resolution])).toEqual([
      [renewed.licenseNo, 'closed', 'renewed'],
      [revoked.licenseNo, 'closed', 'revoked'],
      [lapsed.licenseNo, 'closed', 'expired'],
    ]);
    const closed = await findFollowUp(db(), (await followUps())[0]!.id, D);
    expect(closed?.closedAt).toBeInstanceOf(Date);
  });

  it('a renewal after the date leaves the cycle expired: its follow-up closes expired', async () => {
    const { licenseNo, ...rest } = await licence({ phone: null, expiresOn: addDays(D, 5) });
    await scan(D);
    await scan(addDays(D, 6));
    const lapsed = await followUpOf(licenseNo);
    expect(lapsed).toMatchObject({ status: 'closed', resolution: 'expired' });
    expect(await write({ licenseNo, ...rest, expiresOn: addDays(D, 370) })).toMatchObject({ renewed: 1 });
    expect(await followUpOf(licenseNo)).toEqual(lapsed);
  });
});

describe('follow-ups under concurrency', () => {
  it('a failing worker and a scan opening the same cycle at the same moment: one row', async () => {
    // The cycle's 30-day SMS is being sent when the holder's phone is removed; today's scan
    // makes the 10-day reminder with no usable channel while the worker records the failure.
    const rounds = 12;
    const licences: LicenseInput[] = [];
    for (let i = 0; i < rounds; i++) licences.push(await licence({ expiresOn: addDays(D, 30 + i) }));
    await scan(D);
    const claims = await Promise.all(licences.map(async (l) => {
      const id = await messageOf(l.licenseNo, D, 'sms');
      return { id, claim: (await claimMessage(db(), id, 'w', { leaseSeconds: 600, maxClaims: 8 }))! };
    }));
    for (const l of licences) await write({ ...l, phone: null });
    for (let i = 0; i < rounds; i++) {
      const day = addDays(D, 20 + i);
      const { id, claim } = claims[i]!;
      await Promise.all([
        markFailed(db(), id, claim.message.lockedBy!, { code: '21211', message: 'invalid number' }),
        scan(day),
      ]);
    }
    const rows = await followUps();
    expect(rows).toHaveLength(rounds);
    expect(new Set(rows.map((r) => r.licenseNo)).size).toBe(rounds);
    expect(rows.every((r) => r.reason === 'unreached')).toBe(true);
  });

  it('a failing worker and the sweep at the same moment: one row', async () => {
    const rounds = 10;
    const licences: LicenseInput[] = [];
    for (let i = 0; i < rounds; i++) licences.push(await licence({ expiresOn: addDays(D, 30) }));
    await scan(D);
    for (const l of licences) {
      await Promise.all([end(l.licenseNo, D, 'sms', 'failed'), sweepFollowUps(db(), D, FOLLOW_UP_DAYS)]);
    }
    expect(await followUps()).toHaveLength(rounds);
  });

  it('two channels of one reminder failing at the same moment: the sweep opens what neither move could', async () => {
    const rounds = 10;
    const licences: LicenseInput[] = [];
    for (let i = 0; i < rounds; i++) licences.push(await licence({ categoryCode: 'both', platformUserId: `u-x${i}`, expiresOn: addDays(D, 30) }));
    await scan(D);
    for (const l of licences) {
      await Promise.all([end(l.licenseNo, D, 'sms', 'failed'), end(l.licenseNo, D, 'push', 'failed')]);
    }
    await sweepFollowUps(db(), D, FOLLOW_UP_DAYS);
    expect((await followUps()).map((f) => f.licenseNo).sort()).toEqual(licences.map((l) => l.licenseNo).sort());
  });

  it('a renewal racing the opening: the renewed cycle is never left with an open follow-up', async () => {
    const rounds = 15;
    const licences: LicenseInput[] = [];
    for (let i = 0; i < rounds; i++) licences.push(await licence({ expiresOn: addDays(D, 30) }));
    await scan(D);
    for (const l of licences) {
      const id = await messageOf(l.licenseNo, D, 'sms');
      const claim = (await claimMessage(db(), id, 'w', { leaseSeconds: 600, maxClaims: 8 }))!;
      const [, counts] = await Promise.all([
        markFailed(db(), id, claim.message.lockedBy!, { code: '21211', message: 'invalid number' }),
        write({ ...l, expiresOn: addDays(D, 395) }),
      ]);
      expect(counts.renewed).toBe(1);
    }
    // No sweep: each cycle's follow-up is closed renewed, or was never opened.
    for (const f of await followUps()) expect(f).toMatchObject({ status: 'closed', resolution: 'renewed' });
  });
});

describe('a receipt for a message already failed', () => {
  it('opens nothing twice', async () => {
    const { licenseNo } = await licence({ expiresOn: addDays(D, 30) });
    await scan(D);
    const provider = await end(licenseNo, D, 'sms', 'sent');
    await recordReceipt(db(), provider, 'undelivered', { code: '30003', message: 'unreachable' });
    const first = await followUps();
    expect(first).toHaveLength(1);
    await recordReceipt(db(), provider, 'failed', { code: '30003', message: 'unreachable' });
    expect(await followUps()).toEqual(first);
  });
});
