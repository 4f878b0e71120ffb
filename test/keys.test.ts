// `npm run keys`: the real command, as its own process, against a database of its own.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findActiveApiKey, hashApiKey } from '@lr/db';
import { freshDatabase, type TestDatabase } from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let database: TestDatabase;

beforeAll(async () => {
  database = await freshDatabase();
});

afterAll(async () => {
  await database.drop();
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function keys(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      path.join(ROOT, 'node_modules', '.bin', 'tsx'),
      ['scripts/keys.ts', ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: database.url }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The `field: value` lines that `create` prints. */
function fields(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((line) => {
    const at = line.indexOf(':');
    return [line.slice(0, at), line.slice(at + 1).trim()];
  }));
}

describe('npm run keys', () => {
  let id: string;
  let key: string;

  it('create prints the new key once, with its id, name and role; the database keeps only its hash', async () => {
    const res = await keys('create', '--role', 'operator', '--name', 'centre desk');
    expect(res.code, res.stderr).toBe(0);
    const printed = fields(res.stdout);
    expect(printed).toMatchObject({ name: 'centre desk', role: 'operator' });
    expect(printed.id).toMatch(/^\d+$/);
    expect(printed.key).toMatch(/^lr_[\w-]{32}$/);
    ({ id, key } = printed as { id: string; key: string });

    const row = await database.db.selectFrom('apiKeys').selectAll().where('id', '=', Number(id)).executeTakeFirstOrThrow();
    expect(Buffer.compare(row.keyHash, hashApiKey(key))).toBe(0);
    expect(await findActiveApiKey(database.db, key)).toEqual({ id: Number(id), name: 'centre desk', role: 'operator' });
  });

  it('list shows the key without the key or its hash', async () => {
    const res = await keys('list');
    expect(res.code, res.stderr).toBe(0);
    const [header, ...rows] = res.stdout.trim().split('\n');
    expect(header).toMatch(/^id\s+name\s+role\s+created\s+last used\s+revoked$/);
    const row = rows.find((r) => r.startsWith(`${id} `));
    expect(row).toMatch(/centre desk\s+operator\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\S+\s+-$/);
    expect(res.stdout).not.toContain(key);
    expect(res.stdout).not.toContain(hashApiKey(key).toString('hex'));
    expect(res.stdout).not.toContain(hashApiKey(key).toString('base64'));
  });

  it('revoke revokes the key, again harmlessly', async () => {
    const res = await keys('revoke', id);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`key ${id} "centre desk" (operator) revoked`);
    expect(await findActiveApiKey(database.db, key)).toBeUndefined();

    const again = await keys('revoke', id);
    expect(again.code, again.stderr).toBe(0);
    const list = await keys('list');
    expect(list.stdout.split('\n').find((r) => r.startsWith(`${id} `))).toMatch(/\d\dZ$/);
  });

  it('revoke of an unknown id: exit 1 with a message', async () => {
    const res = await keys('revoke', '999999');
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('no key with id 999999');
  });

  it('bad usage: a usage message on stderr, exit 2, and nothing written', async () => {
    const cases: [string, string[]][] = [
      ['no command', []],
      ['an unknown command', ['rotate']],
      ['a bad role', ['create', '--role', 'root', '--name', 'x']],
      ['no role', ['create', '--name', 'x']],
      ['no name', ['create', '--role', 'viewer']],
      ['an empty name', ['create', '--role', 'viewer', '--name', ' ']],
      ['an unquoted name', ['create', '--role', 'viewer', '--name', 'centre', 'desk']],
      ['an unknown option', ['list', '--all']],
      ['revoke without an id', ['revoke']],
      ['revoke of a non-number', ['revoke', 'abc']],
    ];
    const count = async () =>
      Number((await database.db.selectFrom('apiKeys').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const before = await count();
    const results = await Promise.all(cases.map(([, args]) => keys(...args)));
    results.forEach((res, i) => {
      const what = cases[i]![0];
      expect(res.code, what).toBe(2);
      expect(res.stderr, what).toContain('usage: npm run keys');
      expect(res.stdout, what).toBe('');
    });
    expect(await count()).toBe(before);
  });
});
