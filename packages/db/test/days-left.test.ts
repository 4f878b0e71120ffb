import { addDays, daysBetween, LICENSE_DATES, SCAN_DATES } from '@lr/domain';
import { freshDatabase, type TestDatabase } from '@lr/testing';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type DatabaseHandle } from '../src/db';
import { daysLeft } from '../src/days-left';

let database: TestDatabase;
let handle: DatabaseHandle;

beforeAll(async () => {
  database = await freshDatabase();
  handle = connect(database.url, { max: 1 });
});

afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

const dateIn = (range: { first: string; last: string }) =>
  fc.integer({ min: 0, max: daysBetween(range.first, range.last) }).map((n) => addDays(range.first, n));

/** PostgreSQL's days left of each (expiry date, scan date). */
async function inSql(pairs: { expiresOn: string; asOf: string }[]): Promise<number[]> {
  const answers: number[] = [];
  for (const { expiresOn, asOf } of pairs) {
    const { rows } = await sql<{ left: number }>`select ${daysLeft(sql<string>`${expiresOn}::date`, asOf)} as left`.execute(handle.db);
    answers.push(rows[0]!.left);
  }
  return answers;
}

describe('daysLeft in SQL', () => {
  it('is daysBetween(asOf, expiresOn): across leap days, the turn of a century and dates already past', async () => {
    const edges = [
      { asOf: '2024-02-28', expiresOn: '2024-03-01' }, // 2024-02-29 between: 2
      { asOf: '2100-02-28', expiresOn: '2100-03-01' }, // 2100 is no leap year: 1
      { asOf: '2000-02-28', expiresOn: '2000-03-01' }, // 2000 is: 2
      { asOf: '2026-12-31', expiresOn: '2027-01-01' },
      { asOf: '2026-12-07', expiresOn: '2026-12-07' },
      { asOf: '2026-12-07', expiresOn: '2026-11-07' },
    ];
    expect(await inSql(edges)).toEqual([2, 1, 2, 1, 0, -30]);
    expect(edges.map((p) => daysBetween(p.asOf, p.expiresOn))).toEqual([2, 1, 2, 1, 0, -30]);
    // seeded, so that a failure is seen again on the next run
    const pairs = fc.sample(fc.record({ asOf: dateIn(SCAN_DATES), expiresOn: dateIn(LICENSE_DATES) }), { numRuns: 300, seed: 20261207 });
    expect(await inSql(pairs)).toEqual(pairs.map((p) => daysBetween(p.asOf, p.expiresOn)));
  });
});
