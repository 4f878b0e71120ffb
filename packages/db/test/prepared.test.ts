import { freshDatabase, type TestDatabase } from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type DatabaseHandle } from '../src/db';
import { executePrepared } from '../src/prepared';

let database: TestDatabase;
let single: DatabaseHandle;

beforeAll(async () => {
  database = await freshDatabase();
  // One connection: the statements below all run on it, and its prepared statements can be read.
  single = connect(database.url, { max: 1 });
});

afterAll(async () => {
  await single?.close();
  await database?.drop();
});

describe('executePrepared', () => {
  it('prepares the statement once on the connection under its name, and runs it with each call’s parameters, rows in camelCase', async () => {
    const query = (n: number) => sql<{ theNumber: number; itsSquare: number }>`select ${n}::int as the_number, ${n}::int * ${n}::int as its_square`;
    expect(await executePrepared(single.db, 'square', query(3))).toEqual([{ theNumber: 3, itsSquare: 9 }]);
    expect(await executePrepared(single.db, 'square', query(12))).toEqual([{ theNumber: 12, itsSquare: 144 }]);
    const { rows } = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(single.db);
    expect(rows).toEqual([{ name: 'square', statement: 'select $1::int as the_number, $2::int * $3::int as its_square' }]);
  });
});
