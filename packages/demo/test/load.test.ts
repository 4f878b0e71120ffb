// The demo's half year of history, loaded as `npm start` loads it into an empty store: what
// a newcomer's reports and ledger then show, and that nothing of it is left for a worker.
import { Writable } from 'node:stream';
import { addDays, localDate, maskPhone, normalizeMobile } from '@lr/domain';
import { createLogger } from '@lr/log';
import { runScan } from '@lr/scan';
import type { Database } from '@lr/db';
import { freshDatabase, freshMessageQueues, TEST_SEALER, type TestDatabase, type TestQueues, FOLLOW_UP_DAYS } from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoHistory, HISTORY_DAYS } from '../src/history';
import { loadDemoData, type DemoLoad } from '../src/load';

const TODAY = '2026-03-02';
const TIMEZONE = 'Asia/Shanghai';
const LINK_BASE = 'http://127.0.0.1:3000';

let database: TestDatabase;
let redis: TestQueues;
let loaded: DemoLoad | null;
let loadStartedAt: Date;
const logLines: string[] = [];

beforeAll(async () => {
  [database, redis] = await Promise.all([freshDatabase(), freshMessageQueues()]);
  const log = createLogger(
    'demo-history',
    'info',
    new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  loadStartedAt = new Date();
  loaded = await loadDemoData(
    { db: database.db, sealer: TEST_SEALER, redisUrl: redis.url, queuePrefix: redis.prefix, timezone: TIMEZONE, smsMaxPerRecipientPerDay: 3, followUpDays: FOLLOW_UP_DAYS, linkBaseUrl: LINK_BASE, log },
    TODAY,
  );
}, 120_000);

afterAll(async () => {
  await redis?.cleanup();
  await database?.drop();
});

function db() {
  return database.db;
}

/** Cycles (licence, expiry date) with their outcome and whether any reminder of theirs reached the holder. */
async function cycles() {
  const { rows } = await sql<{ outcome: string; reached: boolean; holderType: string; cycles: number }>`
    select outcome, reached, holder_type, count(*)::int as cycles from (
      select r.license_id, r.expires_on, min(r.outcome) as outcome, l.holder_type,
             bool_or(exists (select 1 from deliveries d where d.reminder_id = r.id and d.status in ('sent', 'delivered'))) as reached
        from reminders r join licenses l on l.id = r.license_id
       group by r.license_id, r.expires_on, l.holder_type) c
     group by outcome, reached, holder_type`.execute(db());
  const count = (where: (row: (typeof rows)[number]) => boolean) => rows.filter(where).reduce((sum, row) => sum + row.cycles, 0);
  const rate = (reached: boolean) => {
    const renewed = count((r) => r.reached === reached && r.outcome === 'renewed');
    return renewed / (renewed + count((r) => r.reached === reached && r.outcome === 'expired'));
  };
  return { count, rate };
}

describe('demo history', () => {
  it('loads into an empty store once, as a story of half a year', async () => {
    expect(loaded).toMatchObject({ categories: 5, days: HISTORY_DAYS });
    expect(loaded!.licenses).toBeGreaterThan(600);
    const again = await loadDemoData(
      { db: db(), sealer: TEST_SEALER, redisUrl: redis.url, queuePrefix: redis.prefix, timezone: TIMEZONE, smsMaxPerRecipientPerDay: 3, followUpDays: FOLLOW_UP_DAYS, linkBaseUrl: LINK_BASE, log: createLogger('x', 'silent') },
      TODAY,
    );
    expect(again).toBeNull();
  });

  it('has one succeeded scan for each day of the half year before today', async () => {
    const scans = await db().selectFrom('scans').select(['asOf', 'status', 'remindersCreated']).orderBy('asOf').execute();
    expect(scans.map((s) => s.asOf)).toEqual(Array.from({ length: HISTORY_DAYS }, (_, i) => addDays(TODAY, i - HISTORY_DAYS)));
    expect(scans.every((s) => s.status === 'succeeded')).toBe(true);
    expect(scans.reduce((sum, s) => sum + s.remindersCreated, 0)).toBeGreaterThan(800);
  });

  it('reminded at 60, 30 and 10 days, enterprises and more individuals, some with no usable contact', async () => {
    const leads = await db().selectFrom('reminders').select('leadDays').distinct().orderBy('leadDays').execute();
    expect(leads.map((l) => l.leadDays)).toEqual([10, 30, 60]);
    const { count } = await cycles();
    const reachedIndividuals = count((r) => r.reached && r.holderType === 'individual');
    const reachedEnterprises = count((r) => r.reached && r.holderType === 'enterprise');
    expect(reachedEnterprises).toBeGreaterThan(20);
    expect(reachedIndividuals).toBeGreaterThan(reachedEnterprises);
    const { rows } = await sql<{ undeliverable: number }>`
      select count(*)::int as undeliverable from reminders r where not exists (select 1 from deliveries d where d.reminder_id = r.id)`.execute(db());
    expect(rows[0]!.undeliverable).toBeGreaterThan(10);
  });

  it('sent by SMS and push; most SMS delivered, those to dead numbers failed or undelivered; nothing left unfinished', async () => {
    const byStatus = await db()
      .selectFrom('outgoingMessages')
      .select(['channel', 'status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['channel', 'status'])
      .execute();
    const n = (channel: string, status: string) => Number(byStatus.find((r) => r.channel === channel && r.status === status)?.n ?? 0);
    expect(n('sms', 'delivered')).toBeGreaterThan(500);
    expect(n('sms', 'undelivered')).toBeGreaterThan(5);
    expect(n('sms', 'failed')).toBeGreaterThan(5);
    expect(n('push', 'sent')).toBeGreaterThan(300);
    expect(n('sms', 'delivered')).toBeGreaterThan(5 * (n('sms', 'undelivered') + n('sms', 'failed')));
    expect(byStatus.filter((r) => ['pending', 'queued', 'sending'].includes(r.status))).toEqual([]);
    // Failures carry the carrier's answer, as the worker and the webhook record it.
    const codes = await db().selectFrom('outgoingMessages').select('errorCode').distinct().where('status', 'in', ['failed', 'undelivered']).execute();
    expect(codes.map((c) => c.errorCode).sort()).toEqual(['21614', '30005']);
    // The app's inbox holds what was pushed.
    const inbox = await db().selectFrom('inboxMessages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(inbox.n)).toBe(n('push', 'sent'));
  });

  it('keeps every demo SMS within two segments', async () => {
    const longest = await db().selectFrom('outgoingMessages').select((eb) => eb.fn.max('segments').as('segments')).where('channel', '=', 'sms').executeTakeFirstOrThrow();
    // A single reminder's SMS (the template) at most 2; a message listing several licences may be longer.
    const { rows } = await sql<{ segments: number }>`
      select max(m.segments) as segments from outgoing_messages m
       where m.channel = 'sms' and (select count(*) from deliveries d where d.message_id = m.id) = 1`.execute(db());
    expect(rows[0]!.segments).toBe(2);
    expect(longest.segments).toBeGreaterThanOrEqual(2);
  });

  it("gives every SMS and push its own message's renewal link", async () => {
    const { rows } = await sql<{ channel: string; body: string; url: string | null; linkToken: string }>`
      select channel, body, url, link_token from outgoing_messages where status in ('sent', 'delivered', 'undelivered')`.execute(db());
    expect(rows.length).toBeGreaterThan(800);
    for (const m of rows) {
      const link = `${LINK_BASE}/r/${m.linkToken}`;
      if (m.channel === 'sms') expect(m.body).toContain(`${link} `);
      else expect(m.url).toBe(link);
    }
    expect(new Set(rows.map((m) => m.linkToken)).size).toBe(rows.length);
  });

  it('ends most reached cycles renewed, fewer of those not reached; some expired, some still open', async () => {
    const { count, rate } = await cycles();
    expect(rate(true)).toBeGreaterThan(0.9);
    expect(rate(false)).toBeLessThan(rate(true) - 0.2);
    expect(count((r) => r.outcome === 'expired')).toBeGreaterThan(20);
    expect(count((r) => r.outcome === 'open')).toBeGreaterThan(20);
    expect(count((r) => !r.reached && r.outcome === 'renewed')).toBeGreaterThan(5);
    const renewals = await db().selectFrom('renewals').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(renewals.n)).toBe(loaded!.renewals);
  });

  it('renews an enforcement certificate by moving its review a year on', async () => {
    const reviewed = await db()
      .selectFrom('renewals as rn')
      .innerJoin('licenses as l', 'l.id', 'rn.licenseId')
      .select(['rn.oldExpiresOn', 'rn.newExpiresOn', 'l.holderType'])
      .where('l.categoryCode', '=', 'enforcement-cert-review')
      .execute();
    expect(reviewed.length).toBeGreaterThan(50);
    for (const r of reviewed) {
      expect(r.holderType).toBe('individual');
      expect(Number(r.newExpiresOn.slice(0, 4)) - Number(r.oldExpiresOn.slice(0, 4))).toBe(1);
      expect(r.newExpiresOn.slice(5)).toBe(r.oldExpiresOn.slice(5));
    }
  });

  it('dates what it did on the simulated days, not on the day it was loaded', async () => {
    const messages = await sql<{ asOf: string; sentAt: Date | null; createdAt: Date }>`
      select s.as_of, m.sent_at, m.created_at from outgoing_messages m join scans s on s.id = m.scan_id`.execute(db());
    for (const m of messages.rows) {
      expect(localDate(TIMEZONE, m.createdAt)).toBe(m.asOf);
      if (m.sentAt) expect(localDate(TIMEZONE, m.sentAt)).toBe(m.asOf);
    }
    const renewals = await db().selectFrom('renewals').select('createdAt').execute();
    const history = demoHistory(TODAY);
    const renewalDays = new Set(history.renewals.map((r) => r.on));
    for (const r of renewals) expect(renewalDays.has(localDate(TIMEZONE, r.createdAt))).toBe(true);
    // Nothing in the store is later than the start of the load.
    const { rows } = await sql<{ latest: Date }>`
      select greatest((select max(finished_at) from scans), (select max(updated_at) from outgoing_messages),
                      (select max(created_at) from delivery_events), (select max(outcome_at) from reminders),
                      (select max(updated_at) from licenses)) as latest`.execute(db());
    expect(rows[0]!.latest.getTime()).toBeLessThan(loadStartedAt.getTime());
    expect(localDate(TIMEZONE, rows[0]!.latest)).toBe(addDays(TODAY, -1));
  });

  it('leaves no job on any queue, and no phone, id number or officer name unmasked in the log', async () => {
    // The services' queues hold nothing; the history's own prefix is gone.
    const counts = await Promise.all([redis.queues.sms, redis.queues.push].map((q) => q.getJobCounts()));
    for (const c of counts) expect(Object.values(c).every((n) => n === 0)).toBe(true);
    const keys = await redis.client.keys(`${redis.prefix}*`);
    // What is left is the queues' own settings (BullMQ's meta), which the test opened.
    expect(keys.filter((k) => k !== `${redis.prefix}:sms:meta` && k !== `${redis.prefix}:push:meta`)).toEqual([]);
    const log = logLines.join('');
    expect(log).toContain('sms (log provider)');
    expect(log).toContain('push (log provider)');
    const licences = demoHistory(TODAY).licenses;
    for (const l of licences) {
      if (l.phone) {
        const e164 = normalizeMobile(l.phone)!;
        expect(log).not.toContain(e164.slice(3));
      }
      expect(log).not.toContain(l.holderIdNo);
      if (l.holderType === 'individual' && l.holderName.length === 3) expect(log).not.toContain(l.holderName);
    }
    const phone = licences.find((l) => l.phone)!.phone!;
    expect(maskPhone(phone)).toMatch(/^\d{3}\*{4}\d{4}$/);
  });

  it("leaves today's reminders to today's scan, which queues them for the workers", async () => {
    const scan = await runScan({ db: db(), queues: redis.queues, log: createLogger('scan', 'silent'), followUpDays: FOLLOW_UP_DAYS }, { asOf: TODAY, trigger: 'cron' });
    expect(scan.remindersCreated).toBeGreaterThanOrEqual(6); // the licences exactly 60, 30 and 10 days out, at least
    expect(scan.messagesQueued).toBeGreaterThan(0);
    const waiting = await redis.queues.sms.getJobCounts('wait', 'delayed');
    expect(waiting.wait! + waiting.delayed!).toBeGreaterThan(0);
    const days = await db().selectFrom('reminders').select('daysLeft').where('scanId', '=', scan.id).execute();
    for (const d of days) expect([60, 30, 10]).toContain(d.daysLeft);
  });
});

/** What a load of the demo needs besides its database, on a queue prefix of its own, logging nothing. */
function loadDeps(queues: TestQueues) {
  return {
    sealer: TEST_SEALER,
    redisUrl: queues.url,
    queuePrefix: queues.prefix,
    timezone: TIMEZONE,
    smsMaxPerRecipientPerDay: 3,
    followUpDays: FOLLOW_UP_DAYS,
    linkBaseUrl: LINK_BASE,
    log: createLogger('demo-history', 'silent'),
  };
}

/** Calls `act` once, as soon as the load has replayed more than 20 days (scans), watching every 20 ms. */
function onceDaysReplayed(db: Database, act: () => void): { stop(): void } {
  let done = false;
  const timer = setInterval(() => {
    void db
      .selectFrom('scans')
      .select('id')
      .where('id', '>', 20)
      .execute()
      .then((rows) => {
        if (rows.length > 0 && !done) {
          done = true;
          act();
        }
      });
  }, 20);
  return { stop: () => clearInterval(timer) };
}

describe('demo history interrupted', () => {
  it('leaves the store empty, nothing queued, so that the next start loads it anew', async () => {
    const [store, queues] = await Promise.all([freshDatabase(), freshMessageQueues()]);
    try {
      const interrupt = new AbortController();
      const deps = { ...loadDeps(queues), db: store.db, signal: interrupt.signal };
      // Ctrl-C once some days have been replayed.
      const watching = onceDaysReplayed(store.db, () => interrupt.abort(new Error('interrupted')));
      await expect(loadDemoData(deps, TODAY)).rejects.toThrow('interrupted');
      watching.stop();
      for (const table of ['categories', 'licenses', 'scans', 'reminders', 'outgoing_messages', 'renewals'] as const) {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(store.db);
        expect({ table, rows: rows[0]!.n }).toEqual({ table, rows: 0 });
      }
      expect(await queues.client.keys(`${queues.prefix}-*`)).toEqual([]);
      // Not taken for a loaded store: the load starts again (and stops again at once).
      await expect(loadDemoData(deps, TODAY)).rejects.toThrow('interrupted');
    } finally {
      await queues.cleanup();
      await store.drop();
    }
  });

  it('a load cut off where it could not empty the store (its PostgreSQL stopped with it) is emptied and loaded anew at the next start', async () => {
    const [store, queues] = await Promise.all([freshDatabase(), freshMessageQueues()]);
    try {
      const interrupt = new AbortController();
      const deps = loadDeps(queues);
      // The store refuses to be emptied, as a PostgreSQL that stopped with the load would; then Ctrl-C.
      await sql`create function refuse_truncate() returns trigger language plpgsql as $$ begin raise exception 'the database is gone (test)'; end $$`.execute(store.db);
      await sql`create trigger refuse_truncate before truncate on categories execute function refuse_truncate()`.execute(store.db);
      const watching = onceDaysReplayed(store.db, () => interrupt.abort(new Error('interrupted')));
      await expect(loadDemoData({ ...deps, db: store.db, signal: interrupt.signal }, TODAY)).rejects.toThrow('the database is gone');
      watching.stop();
      await sql`drop trigger refuse_truncate on categories`.execute(store.db);
      const count = async (table: string) => (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(store.db)).rows[0]!.n;
      expect(await count('categories')).toBeGreaterThan(0);
      const halfLoaded = await count('scans');
      expect(halfLoaded).toBeGreaterThan(20);
      expect(halfLoaded).toBeLessThan(HISTORY_DAYS);

      const again = await loadDemoData({ ...deps, db: store.db }, TODAY);
      expect(again).toMatchObject({ days: loaded!.days, licenses: loaded!.licenses });
      expect(await count('scans')).toBe(loaded!.days);
      // The same history as the whole load above (whose store has had today's scan since).
      const history = sql<{ n: number }>`select count(*)::int as n from reminders where as_of < ${TODAY}`;
      expect((await history.execute(store.db)).rows[0]!.n).toBe((await history.execute(db())).rows[0]!.n);
      // Loaded now: the next start leaves it alone.
      expect(await loadDemoData({ ...deps, db: store.db }, TODAY)).toBeNull();
    } finally {
      await queues.cleanup();
      await store.drop();
    }
  }, 120_000);
});
