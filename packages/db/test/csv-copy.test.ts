import { maskHolderName, maskPhone, type HolderType } from '@lr/domain';
import { eventually, freshDatabase, type TestDatabase } from '@lr/testing';
import { sql } from 'kysely';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyCsv } from '../src/csv-copy';
import { connect, type DatabaseHandle } from '../src/db';
import { maskedHolderName, maskedPhone } from '../src/masking';

let database: TestDatabase;
/**
 * The copies run on a pool of one connection: what a copy leaves on its connection is what
 * the next query finds, and a cancel cannot wait for a connection of the pool.
 */
let single: DatabaseHandle;

beforeAll(async () => {
  database = await freshDatabase();
  single = connect(database.url, { max: 1 });
});

afterAll(async () => {
  await single.close();
  await database.drop();
});

const settings = (timezone: string) => ({ timezone, cancelBackend: single.cancelBackend });

/** The whole CSV a copy writes. */
async function copied(query: Parameters<typeof copyCsv>[1], timezone = 'Asia/Shanghai'): Promise<string> {
  const chunks: Buffer[] = [];
  const to = new Writable({ write: (chunk: Buffer, _encoding, done) => (chunks.push(chunk), done()) });
  expect(await copyCsv(single.db, query, to, settings(timezone))).toBe(true);
  return Buffer.concat(chunks).toString('utf8');
}

/** Connections the copies' pool has handed out and not had back. */
const checkedOut = () => single.pool.totalCount - single.pool.idleCount;

async function activeCopies(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pg_stat_activity
     where datname = current_database() and query ilike 'copy (%' and state <> 'idle'`.execute(database.db);
  return rows[0]!.n;
}

/** A deterministic mix of characters: CJK, a character outside the BMP, ASCII, CSV's specials. */
function names(): string[] {
  const pool = ['张', '李', '欧', '阳', '𠀀', '𪚥', '😀', 'a', 'Z', ',', '"', '\n', '\r\n', ' ', "'", '\\', 'é', 'e\u0301'];
  const made = ['', '张', '𠀀', '张三', '欧阳娜娜', '𠀀三', '李𪚥𪚥', 'Wang, "Li"\nMing', '"', ',', '\\N'];
  let seed = 7;
  for (let i = 0; i < 300; i++) {
    const length = 1 + (i % 9);
    let name = '';
    for (let c = 0; c < length; c++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      name += pool[seed % pool.length];
    }
    made.push(name);
  }
  return made;
}

describe('masking in SQL agrees with the domain functions', () => {
  it('masks stored mobiles as maskPhone does, and keeps null', async () => {
    const phones = Array.from({ length: 500 }, (_, i) => `+861${3 + (i % 7)}${String((i * 7_919_117) % 1_000_000_000).padStart(9, '0')}`);
    const { rows } = await sql<{ phone: string; masked: string }>`
      select p as phone, ${maskedPhone(sql.ref('p'))} as masked from unnest(${phones}::text[]) p`.execute(database.db);
    expect(rows).toHaveLength(phones.length);
    for (const row of rows) expect(row.masked, row.phone).toBe(maskPhone(row.phone));
    const { rows: none } = await sql<{ masked: string | null }>`select ${maskedPhone(sql`null::text`)} as masked`.execute(database.db);
    expect(none[0]!.masked).toBeNull();
  });

  it('masks names as maskHolderName does, for both holder types, one-character and non-BMP names included', async () => {
    const cases = names().flatMap((name) => (['individual', 'enterprise'] as HolderType[]).map((type) => ({ name, type })));
    const { rows } = await sql<{ name: string; type: HolderType; masked: string }>`
      select n as name, t as type, ${maskedHolderName(sql.ref('n'), sql.ref('t'))} as masked
        from unnest(${cases.map((c) => c.name)}::text[], ${cases.map((c) => c.type)}::text[]) as x(n, t)`.execute(database.db);
    expect(rows).toHaveLength(cases.length);
    for (const row of rows) expect(row.masked, JSON.stringify(row)).toBe(maskHolderName(row.name, row.type));
    expect(rows.find((r) => r.name === '𠀀三' && r.type === 'individual')?.masked).toBe('𠀀*');
  });
});

describe('copyCsv', () => {
  it("writes PostgreSQL's CSV of the query, its parameters inlined as literals that come back as they were", async () => {
    const awkward = ["it's", 'back\\slash', 'comma, "quote"', 'line\nbreak', '$1', '张𠀀'];
    const csv = await copied(sql`select v, char_length(v) from unnest(${awkward}::text[]) with ordinality as x(v, i) order by i`);
    expect(csv).toBe(`it's,4\nback\\slash,10\n"comma, ""quote""",14\n"line\nbreak",10\n$1,2\n张𠀀,2\n`);
  });

  it('formats timestamps in the time zone given, and leaves the session as it was', async () => {
    const query = sql`select to_char(timestamptz '2031-01-02 01:30:00+00', 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM'), date '2031-01-02'`;
    expect(await copied(query)).toBe('2031-01-02T09:30:00+08:00,2031-01-02\n');
    expect(await copied(query, 'America/New_York')).toBe('2031-01-01T20:30:00-05:00,2031-01-02\n');
    const { rows } = await sql<{ zone: string; dates: string; jit: string }>`
      select current_setting('TimeZone') as zone, current_setting('DateStyle') as dates, current_setting('jit') as jit`.execute(single.db);
    const { rows: fresh } = await sql<{ zone: string; dates: string; jit: string }>`
      select current_setting('TimeZone') as zone, current_setting('DateStyle') as dates, current_setting('jit') as jit`.execute(database.db);
    expect(rows).toEqual(fresh);
  });

  it('stops when the destination closes midway: the COPY is cancelled from outside the pool, and its connection goes back to the pool, usable', async () => {
    const to = new PassThrough();
    const done = copyCsv(single.db, sql`select g, repeat('x', 200) from generate_series(1, 2000000) g`, to, settings('UTC'));
    // Read a little, then go away as a client does.
    await new Promise((resolve) => to.once('data', resolve));
    to.destroy();
    expect(await done).toBe(false);
    expect(checkedOut()).toBe(0);
    await eventually(async () => (await activeCopies()) === 0 || undefined, 15_000, 'no COPY runs');
    expect(await copied(sql`select 1`)).toBe('1\n');
  });

  it('stops at once when the destination was closed before the COPY began', async () => {
    const to = new PassThrough();
    to.destroy();
    expect(await copyCsv(single.db, sql`select g from generate_series(1, 2000000) g`, to, settings('UTC'))).toBe(false);
    expect(checkedOut()).toBe(0);
  });

  it('rejects when PostgreSQL fails midway, and gives the connection back', async () => {
    const to = new PassThrough();
    const done = copyCsv(single.db, sql`select g, repeat('x', 200) from generate_series(1, 2000000) g`, to, settings('UTC'));
    await new Promise((resolve) => to.once('readable', resolve));
    // Someone else cancels the statement (an operator, a restart): the reader must learn it.
    await sql`select pg_cancel_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'copy (%'`.execute(database.db);
    to.resume();
    await expect(done).rejects.toThrow(/cancel/);
    expect(checkedOut()).toBe(0);
    expect(await copied(sql`select 2`)).toBe('2\n');
  });

  it('rejects a query PostgreSQL refuses, before any row', async () => {
    await expect(copyCsv(single.db, sql`select 1/0`, new PassThrough(), settings('UTC'))).rejects.toThrow(/division by zero/);
    expect(checkedOut()).toBe(0);
  });
});
