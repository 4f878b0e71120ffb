// The reminder windows on the scan's real path (window.ts's windows as expiry dates, then the
// SQL of createDueReminders, which finds licences by `expires_on between` and writes
// days_left with @lr/db's daysLeft), against a model of docs/rules.md "reminder windows".
import { insertCategory } from '@lr/db';
import { addDays, type License } from '@lr/domain';
import { createLogger } from '@lr/log';
import {
  FOLLOW_UP_DAYS,
  freshDatabase,
  freshMessageQueues,
  storeLicenses,
  TEST_ENTERPRISE,
  testCategory,
  testLicense,
  validLicense,
  type TestDatabase,
  type TestQueues,
} from '@lr/testing';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScan, type ScanDeps } from '../src/scan';

let database: TestDatabase;
let redis: TestQueues;

beforeAll(async () => {
  [database, redis] = await Promise.all([freshDatabase(), freshMessageQueues()]);
});

afterAll(async () => {
  await redis?.cleanup();
  await database?.drop();
});

const deps = (): ScanDeps => ({ db: database.db, queues: redis.queues, log: createLogger('test', 'silent'), followUpDays: FOLLOW_UP_DAYS });

// ---- the model: docs/rules.md, dates and reminder windows, written out as plainly as it reads ----

/** expiresOn − asOf in whole days. */
const modelDaysLeft = (asOf: string, expiresOn: string) => (Date.parse(`${expiresOn}T00:00:00Z`) - Date.parse(`${asOf}T00:00:00Z`)) / 86_400_000;

/** The reminder due with `daysLeft` days left: the smallest lead at least that far out; none once lapsed or beyond the largest. */
function modelLead(leadDays: number[], daysLeft: number): number | null {
  if (daysLeft < 0) return null;
  const reaching = leadDays.filter((lead) => lead >= daysLeft);
  return reaching.length === 0 ? null : Math.min(...reaching);
}

interface ModelLicence {
  licenseNo: string;
  expiresOn: string;
  leadDays: number[];
  /** active, and of an enabled category: the only licences a scan reminds */
  remindable: boolean;
}

interface ReminderRow {
  licenseNo: string;
  leadDays: number;
  daysLeft: number;
  asOf: string;
}

/** The reminders a scan of `asOf` adds to `existing` (at most one per licence, expiry date and lead, ever), and how many it skips. */
function modelScan(licences: ModelLicence[], existing: ReminderRow[], asOf: string) {
  const added: ReminderRow[] = [];
  let skipped = 0;
  for (const l of licences.filter((x) => x.remindable)) {
    const daysLeft = modelDaysLeft(asOf, l.expiresOn);
    const lead = modelLead(l.leadDays, daysLeft);
    if (lead === null) continue;
    if (existing.some((r) => r.licenseNo === l.licenseNo && r.leadDays === lead)) skipped += 1;
    else added.push({ licenseNo: l.licenseNo, leadDays: lead, daysLeft, asOf });
  }
  return { added, skipped };
}

const byKey = (a: ReminderRow, b: ReminderRow) => (a.licenseNo < b.licenseNo ? -1 : a.licenseNo > b.licenseNo ? 1 : a.leadDays - b.leadDays);

// ---- the worlds scanned ----

const leadSet = fc.oneof(
  { weight: 2, arbitrary: fc.constant<number[]>([60, 30, 10]) },
  { weight: 3, arbitrary: fc.uniqueArray(fc.integer({ min: 1, max: 366 }), { minLength: 1, maxLength: 4 }) },
);

const world = fc.record({
  categories: fc.array(fc.record({ leadDays: leadSet, enabled: fc.constantFrom(true, true, true, false) }), { minLength: 1, maxLength: 2 }),
  /** days left of further licences, besides each window's edges */
  moreDaysLeft: fc.uniqueArray(fc.integer({ min: -3, max: 370 }), { maxLength: 5 }),
  /** every n-th licence is revoked (0: none) */
  revokeEvery: fc.constantFrom(0, 0, 3, 4),
  /** the first scan's date, as days from 2001-01-01 (to 2098) */
  firstDay: fc.integer({ min: 0, max: 35_700 }),
  /** the second scan comes this many days later (0: the same day again) */
  laterBy: fc.integer({ min: 0, max: 70 }),
});

type World = typeof world extends fc.Arbitrary<infer W> ? W : never;

/** Each window's edges and their neighbours (with [60, 30, 10]: 31, between the 30 and the 60 windows), 0, -1, and the rest. */
function daysLeftOf(leadDays: number[], more: number[]): number[] {
  const edges = leadDays.flatMap((lead) => [lead - 1, lead, lead + 1]);
  return [...new Set([-1, 0, ...edges, ...more])];
}

/** Each world has categories of its own; those of the worlds before are disabled, so that a scan leaves their licences alone. */
let worlds = 0;

async function scanned(w: World) {
  worlds += 1;
  await database.db.updateTable('categories').set({ enabled: false }).execute();
  const asOf = addDays('2001-01-01', w.firstDay);
  const model: ModelLicence[] = [];
  const stored: License[] = [];
  for (const [c, category] of w.categories.entries()) {
    const code = `w${worlds}-${c}`;
    await insertCategory(database.db, testCategory({ code, leadDays: category.leadDays, channels: ['sms'], enabled: category.enabled }));
    for (const [i, daysLeft] of daysLeftOf(category.leadDays, w.moreDaysLeft).entries()) {
      const revoked = w.revokeEvery > 0 && i % w.revokeEvery === 0;
      const licenseNo = `${code}-${daysLeft}`;
      const expiresOn = addDays(asOf, daysLeft);
      stored.push(
        validLicense(
          testLicense({ categoryCode: code, licenseNo, ...TEST_ENTERPRISE, validFrom: '2000-01-01', expiresOn, status: revoked ? 'revoked' : 'active' }),
        ),
      );
      model.push({ licenseNo, expiresOn, leadDays: category.leadDays, remindable: category.enabled && !revoked });
    }
  }
  await storeLicenses(database.db, stored);

  const first = await runScan(deps(), { asOf, trigger: 'command' });
  const later = addDays(asOf, w.laterBy);
  const second = await runScan(deps(), { asOf: later, trigger: 'command' });
  const { rows } = await sql<ReminderRow>`
    select l.license_no, r.lead_days, r.days_left, to_char(r.as_of, 'YYYY-MM-DD') as as_of
      from reminders r join licenses l on l.id = r.license_id
     where l.category_code like ${`w${worlds}-%`}`.execute(database.db);

  const expectedFirst = modelScan(model, [], asOf);
  const expectedSecond = modelScan(model, expectedFirst.added, later);
  return {
    prefix: `w${worlds}-`,
    actual: { first: { created: first.remindersCreated, skipped: first.skipped }, second: { created: second.remindersCreated, skipped: second.skipped }, reminders: rows.sort(byKey) },
    expected: {
      first: { created: expectedFirst.added.length, skipped: expectedFirst.skipped },
      second: { created: expectedSecond.added.length, skipped: expectedSecond.skipped },
      reminders: [...expectedFirst.added, ...expectedSecond.added].sort(byKey),
    },
  };
}

describe('the scan against the rule of the reminder windows (docs/rules.md)', () => {
  it('creates the reminders of the model, with its days left, for random lead days, expiry dates and scan dates, then catches up once', async () => {
    const day31: World = { categories: [{ leadDays: [60, 30, 10], enabled: true }], moreDaysLeft: [45], revokeEvery: 0, firstDay: 9_556, laterBy: 0 };
    await fc.assert(
      fc.asyncProperty(world, async (w) => {
        const { actual, expected } = await scanned(w);
        expect(actual).toEqual(expected);
      }),
      { numRuns: 100, examples: [[day31]] },
    );
  }, 60_000);

  it('day 31 with the default lead days is the 60-day reminder, and 30 the 30-day one (the example above, spelled out)', async () => {
    const { prefix, actual } = await scanned({ categories: [{ leadDays: [60, 30, 10], enabled: true }], moreDaysLeft: [], revokeEvery: 0, firstDay: 9_556, laterBy: 1 });
    const reminder = (daysLeftAtFirst: number, leadDays: number, daysLeft: number, asOf: string) => ({ licenseNo: `${prefix}0-${daysLeftAtFirst}`, leadDays, daysLeft, asOf });
    expect(actual.reminders.filter((r) => r.asOf === '2027-03-02')).toEqual(
      expect.arrayContaining([reminder(31, 60, 31, '2027-03-02'), reminder(30, 30, 30, '2027-03-02'), reminder(11, 30, 11, '2027-03-02'), reminder(10, 10, 10, '2027-03-02')]),
    );
    // A day later the licence 31 days out has 30 left: the 30-day reminder is due now.
    expect(actual.reminders.filter((r) => r.licenseNo === `${prefix}0-31`)).toEqual([reminder(31, 30, 30, '2027-03-03'), reminder(31, 60, 31, '2027-03-02')]);
  });
});
