import { freshDatabase, pausableProxy, type TestDatabase } from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, isDatabaseUnavailable } from '../src/db';
import { inTransaction } from '../src/transaction';

let database: TestDatabase;

beforeAll(async () => {
  database = await freshDatabase();
  await sql`create table lockable (id int primary key, runs int not null default 0)`.execute(database.db);
  await sql`insert into lockable (id) values (1), (2)`.execute(database.db);
});

afterAll(async () => {
  await database.drop();
});

describe('inTransaction', () => {
  it('runs the work again when PostgreSQL stopped it in a deadlock, and commits the second run', async () => {
    const other = await database.pool.connect();
    await other.query('begin');
    await other.query('update lockable set runs = runs where id = 1');
    let runs = 0;
    let otherDone: Promise<unknown> | undefined;
    const result = await inTransaction(database.db, async (trx) => {
      runs += 1;
      await sql`update lockable set runs = runs + 1 where id = 2`.execute(trx);
      const waiting = sql`update lockable set runs = runs + 1 where id = 1`.execute(trx);
      if (runs === 1) {
        // The other transaction now waits for row 2, after this one began to wait for row 1:
        // this one's deadlock check comes first, and PostgreSQL stops it.
        await new Promise((resolve) => setTimeout(resolve, 200));
        otherDone = other.query('update lockable set runs = runs where id = 2').then(() => other.query('commit'));
      }
      await waiting;
      return runs;
    });
    await otherDone;
    other.release();
    expect(result).toBe(2);
    // Only the second run's writes are kept.
    const rows = await sql<{ id: number; runs: number }>`select id, runs from lockable order by id`.execute(database.db);
    expect(rows.rows).toEqual([
      { id: 1, runs: 1 },
      { id: 2, runs: 1 },
    ]);
  });

  it('gives up after three runs, with the last run\'s error', async () => {
    let runs = 0;
    const serialization = Object.assign(new Error('could not serialize access'), { code: '40001' });
    await expect(
      inTransaction(database.db, async () => {
        runs += 1;
        throw serialization;
      }),
    ).rejects.toBe(serialization);
    expect(runs).toBe(3);
  });

  it('does not run the work again for any other error', async () => {
    let runs = 0;
    await expect(
      inTransaction(database.db, async (trx) => {
        runs += 1;
        await sql`insert into lockable (id) values (1)`.execute(trx);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(runs).toBe(1);
  });
});

describe('connect', () => {
  it('statementTimeoutMs: PostgreSQL cancels a statement that waits longer, and the connection serves the next one', async () => {
    const impatient = connect(database.url, { max: 1, statementTimeoutMs: 200 });
    try {
      await expect(sql`select pg_sleep(2)`.execute(impatient.db)).rejects.toMatchObject({ code: '57014' });
      expect((await sql<{ one: number }>`select 1 as one`.execute(impatient.db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await impatient.close();
    }
  });

  it('watch: a check that PostgreSQL answers with an error (its backend ended) leaves the work under way alone', async () => {
    const changes: boolean[] = [];
    const watched = connect(database.url, { max: 2, watch: { onAvailability: (answering) => changes.push(answering) } });
    try {
      await sql`select 1`.execute(watched.db);
      const probe = () => sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity where application_name = 'license-reminders liveness' and datname = current_database()`.execute(database.db);
      await vi.waitFor(async () => expect((await probe()).rows[0]!.n).toBe(1), { timeout: 5_000, interval: 50 });
      const longQuery = sql<{ done: boolean }>`select pg_sleep(2.5) is not null as done`.execute(watched.db);
      await sql`select pg_terminate_backend(pid) from pg_stat_activity
                 where application_name = 'license-reminders liveness' and datname = current_database()`.execute(database.db);
      expect((await longQuery).rows).toEqual([{ done: true }]);
      expect(watched.answering()).toBe(true);
      expect(changes).toEqual([]);
    } finally {
      await watched.close();
    }
  });

  it('watch: a query on a connection gone silent fails within 5 s as unavailable, the next at once, and work resumes when PostgreSQL answers', async () => {
    const target = new URL(database.url);
    const proxy = await pausableProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const changes: boolean[] = [];
    const watched = connect(proxy.through(database.url), { max: 2, watch: { onAvailability: (answering) => changes.push(answering) } });
    try {
      await sql`select 1`.execute(watched.db); // a pooled connection, which will go silent
      proxy.pause();
      let started = performance.now();
      const silent = await sql`select 1`.execute(watched.db).then(() => undefined, (error: unknown) => error);
      expect(isDatabaseUnavailable(silent), String(silent)).toBe(true);
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(watched.answering()).toBe(false);
      expect(changes).toEqual([false]);
      started = performance.now();
      const refused = await sql`select 1`.execute(watched.db).then(() => undefined, (error: unknown) => error);
      expect(refused).toMatchObject({ name: 'DatabaseUnavailableError' });
      expect(performance.now() - started).toBeLessThan(100);

      proxy.resume();
      await vi.waitFor(() => expect(watched.answering()).toBe(true), { timeout: 10_000, interval: 100 });
      expect((await sql<{ one: number }>`select 1 as one`.execute(watched.db)).rows).toEqual([{ one: 1 }]);
      expect(changes).toEqual([false, true]);
    } finally {
      await watched.close();
      await proxy.close();
    }
  });

  it('isDatabaseUnavailable: connection faults and time-outs, not a statement that is wrong', async () => {
    const refused = connect('postgres://postgres:postgres@127.0.0.1:1/none', { max: 1 });
    try {
      expect(isDatabaseUnavailable(await sql`select 1`.execute(refused.db).catch((error: unknown) => error))).toBe(true);
    } finally {
      await refused.close();
    }
    expect(isDatabaseUnavailable(await sql`select nonsense`.execute(database.db).catch((error: unknown) => error))).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }))).toBe(true);
  });
});
