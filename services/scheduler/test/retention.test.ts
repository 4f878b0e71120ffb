import { copyLedger, insertCategory, writeInboxMessages } from '@lr/db';
import { addDays, localDate } from '@lr/domain';
import { createLogger } from '@lr/log';
import { runScan } from '@lr/scan';
import {
  finishMessage,
  FOLLOW_UP_DAYS,
  freshDatabase,
  freshMessageQueues,
  storeLicenses,
  testCategory,
  testLicense,
  validLicense,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import { sql } from 'kysely';
import { createTask } from 'node-cron';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMessageRetention, upkeep } from '../src/upkeep';

const TZ = 'Asia/Shanghai';
const log = createLogger('test', 'silent');
const NOW = new Date();
const TODAY = localDate(TZ, NOW);

/**
 * Five SMS of one scan, each to its own holder, sent with their text; each has an in-app
 * inbox copy. Three are made 400 days old, one 366, one 300: MESSAGE_RETENTION_DAYS=365
 * erases the text of the four older ones.
 */
let database: TestDatabase;
let redis: TestQueues;
const ids: Record<string, number> = {};
const AGES: Record<string, number> = { OLD1: 400, OLD2: 400, OLD3: 400, EDGE: 366, RECENT: 300 };

beforeAll(async () => {
  [database, redis] = await Promise.all([freshDatabase(), freshMessageQueues()]);
  const { db } = database;
  await insertCategory(db, testCategory({ code: 'food', channels: ['sms'] }));
  const names = Object.keys(AGES);
  await storeLicenses(
    db,
    names.map((licenseNo, i) => validLicense(testLicense({ categoryCode: 'food', licenseNo, holderName: '张三丰', phone: `1381234560${i}`, expiresOn: addDays(TODAY, 10) }))),
  );
  await runScan({ db, queues: redis.queues, log, followUpDays: FOLLOW_UP_DAYS }, { asOf: TODAY, trigger: 'command' });
  const { rows } = await sql<{ id: number; licenseNo: string }>`
    select m.id, l.license_no as "licenseNo" from outgoing_messages m join deliveries d on d.message_id = m.id
      join reminders r on r.id = d.reminder_id join licenses l on l.id = r.license_id`.execute(db);
  expect(rows).toHaveLength(names.length);
  for (const row of rows) {
    ids[row.licenseNo] = row.id;
    await finishMessage(db, row.id, 'delivered');
    await sql`update outgoing_messages set title = 'title', body = ${`【卢氏县政务服务】张三丰您好 ${row.licenseNo}`} where id = ${row.id}`.execute(db);
  }
  await writeInboxMessages(
    db,
    rows.map((r) => ({ messageId: r.id, platformUserId: 'app-1', title: '食品经营许可证即将到期', body: `张三丰 ${r.licenseNo}`, url: 'https://example.gov.cn/r/x' })),
  );
  for (const [licenseNo, days] of Object.entries(AGES)) {
    await sql`update outgoing_messages set created_at = now() - make_interval(days => ${days}) where id = ${ids[licenseNo]!}`.execute(db);
    await sql`update inbox_messages set created_at = now() - make_interval(days => ${days}) where message_id = ${ids[licenseNo]!}`.execute(db);
  }
});

afterAll(async () => {
  await redis?.cleanup();
  await database?.drop();
});

const texts = async () =>
  Object.fromEntries(
    (await database.db.selectFrom('outgoingMessages as m').innerJoin('deliveries as d', 'd.messageId', 'm.id').innerJoin('reminders as r', 'r.id', 'd.reminderId').innerJoin('licenses as l', 'l.id', 'r.licenseId').select(['l.licenseNo', 'm.title', 'm.body', 'm.status', 'm.deliveredAt']).execute()).map((r) => [
      r.licenseNo,
      r,
    ]),
  );
const inbox = async () => (await database.db.selectFrom('inboxMessages').select('messageId').orderBy('messageId').execute()).map((r) => r.messageId);

/** The ledger's CSV rows (no header): no field of these holds a line break. */
async function ledger(): Promise<string[]> {
  const chunks: Buffer[] = [];
  const to = new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) });
  expect(await copyLedger(database.db, { categoryCode: 'food' }, to, { timezone: TZ, cancelBackend: database.cancelBackend })).toBe(true);
  return Buffer.concat(chunks).toString('utf8').trim().split('\n');
}

describe('message retention', () => {
  it('erases the text of messages older than the retention in bounded batches, keeps the rest, and the ledger still has every row', async () => {
    const ledgerBefore = await ledger();
    expect(ledgerBefore).toHaveLength(5);
    for (const row of ledgerBefore) expect(row).toMatch(/,sms,delivered,1,.+,.+,,open$/);

    // Batches of two, at most one a call: the first call erases two of the four old ones.
    expect(await applyMessageRetention(database.db, 365, NOW, { batch: 2, maxBatches: 1 })).toEqual({ messages: 2, inbox: 2 });
    expect(await applyMessageRetention(database.db, 365, NOW, { batch: 2, maxBatches: 10 })).toEqual({ messages: 2, inbox: 2 });
    expect(await applyMessageRetention(database.db, 365, NOW, { batch: 2, maxBatches: 10 })).toEqual({ messages: 0, inbox: 0 });

    const after = await texts();
    for (const no of ['OLD1', 'OLD2', 'OLD3', 'EDGE']) {
      expect(after[no], no).toMatchObject({ title: null, body: null, status: 'delivered', deliveredAt: expect.any(Date) });
    }
    expect(after.RECENT).toMatchObject({ title: 'title', body: '【卢氏县政务服务】张三丰您好 RECENT', status: 'delivered' });
    expect(await inbox()).toEqual([ids.RECENT]);

    // The work ledger is made of the records, not the text: every row is still there, as it was.
    expect(await ledger()).toEqual(ledgerBefore);
  });

  it("runs in the scheduler's upkeep, with MESSAGE_RETENTION_DAYS", async () => {
    await sql`update outgoing_messages set body = 'again', title = 'again' where id = ${ids.RECENT!}`.execute(database.db);
    const options = (messageRetentionDays: number) => ({
      deps: { db: database.db, queues: redis.queues, log, followUpDays: FOLLOW_UP_DAYS, redis: redis.connection, claimLeaseSeconds: 60 },
      timezone: TZ,
      // never due: this round is the retention's
      dailyScan: createTask('0 0 1 1 *', () => {}, { timezone: TZ }),
      scanToday: () => Promise.resolve(),
      intervalMs: 60_000,
      messageRetentionDays,
      log,
      now: () => NOW,
    });
    await upkeep(options(365));
    expect((await texts()).RECENT).toMatchObject({ body: 'again' });
    await upkeep(options(299));
    expect((await texts()).RECENT).toMatchObject({ body: null, title: null });
    expect(await inbox()).toEqual([]);
  });
});
