import { freshDatabase, type TestDatabase } from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, findActiveApiKey, hashApiKey, listApiKeys, revokeApiKey } from '../src/access.repository';
import { listAudit, recordAudit } from '../src/audit.repository';
import type { Database } from '../src/db';

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await freshDatabase();
  db = database.db;
});

afterAll(async () => {
  await database.drop();
});

async function storedKey(id: number) {
  return db.selectFrom('apiKeys').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

describe('API keys', () => {
  it('stores only the SHA-256 hash of a new key', async () => {
    const { id, key } = await createApiKey(db, 'centre desk', 'operator');
    expect(key).toMatch(/^lr_[\w-]{32}$/);
    const row = await storedKey(id);
    expect(row).toMatchObject({ name: 'centre desk', role: 'operator', revokedAt: null, lastUsedAt: null });
    expect(Buffer.compare(row.keyHash, hashApiKey(key))).toBe(0);
    expect(JSON.stringify(row)).not.toContain(key);
  });

  it('finds an active key by the key itself, and no other', async () => {
    const { id, key } = await createApiKey(db, 'county office', 'viewer');
    expect(await findActiveApiKey(db, key)).toEqual({ id, name: 'county office', role: 'viewer' });
    expect(await findActiveApiKey(db, `${key}x`)).toBeUndefined();
    expect(await findActiveApiKey(db, 'lr_unknown')).toBeUndefined();
  });

  it('records when a key was last used, at most once a minute', async () => {
    const { id, key } = await createApiKey(db, 'busy', 'viewer');
    await findActiveApiKey(db, key);
    const first = (await storedKey(id)).lastUsedAt;
    expect(first).toBeInstanceOf(Date);

    await findActiveApiKey(db, key);
    expect((await storedKey(id)).lastUsedAt).toEqual(first);

    await sql`update api_keys set last_used_at = now() - interval '2 minutes' where id = ${id}`.execute(db);
    const stale = (await storedKey(id)).lastUsedAt!;
    await findActiveApiKey(db, key);
    expect((await storedKey(id)).lastUsedAt!.getTime()).toBeGreaterThan(stale.getTime() + 60_000);
  });

  it('lists keys oldest first, without keys or hashes', async () => {
    const { id } = await createApiKey(db, 'listed', 'admin');
    const keys = await listApiKeys(db);
    expect(keys.map((k) => k.id)).toEqual([...keys.map((k) => k.id)].sort((a, b) => a - b));
    const listed = keys.find((k) => k.id === id);
    expect(listed).toEqual({ id, name: 'listed', role: 'admin', createdAt: expect.any(Date), lastUsedAt: null, revokedAt: null });
    for (const k of keys) expect(Object.keys(k).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'name', 'revokedAt', 'role']);
  });

  it('revokes a key: it is not found any more, and revoking again keeps the first time', async () => {
    const { id, key } = await createApiKey(db, 'leaver', 'operator');
    expect(await findActiveApiKey(db, key)).toBeDefined();

    const revoked = await revokeApiKey(db, id);
    expect(revoked).toMatchObject({ id, name: 'leaver', role: 'operator', revokedAt: expect.any(Date) });
    expect(await findActiveApiKey(db, key)).toBeUndefined();

    const again = await revokeApiKey(db, id);
    expect(again!.revokedAt).toEqual(revoked!.revokedAt);
    expect((await listApiKeys(db)).find((k) => k.id === id)!.revokedAt).toEqual(revoked!.revokedAt);
  });

  it('revoking an unknown id changes nothing', async () => {
    const before = await listApiKeys(db);
    expect(await revokeApiKey(db, 999_999)).toBeUndefined();
    expect(await listApiKeys(db)).toEqual(before);
  });
});

describe('audit log', () => {
  it('commits an entry with the write, or not at all', async () => {
    await db.transaction().execute((trx) =>
      recordAudit(trx, { apiKeyId: null, actor: 'ADMIN_API_KEY', action: 'test.commit', target: 't:1', before: null, after: { n: 1, list: [1, 2] } }),
    );
    await expect(
      db.transaction().execute(async (trx) => {
        await recordAudit(trx, { apiKeyId: null, actor: 'ADMIN_API_KEY', action: 'test.rollback', target: 't:2', before: null, after: {} });
        throw new Error('the write failed');
      }),
    ).rejects.toThrow('the write failed');

    expect(await listAudit(db, { limit: 10, action: 'test.rollback' })).toEqual([]);
    const [entry] = await listAudit(db, { limit: 10, action: 'test.commit' });
    expect(entry).toMatchObject({ apiKeyId: null, actor: 'ADMIN_API_KEY', target: 't:1', before: null, after: { n: 1, list: [1, 2] } });
    expect(entry!.createdAt).toBeInstanceOf(Date);
  });

  it('pages newest first by id, filtered by action and target', async () => {
    const { id: keyId } = await createApiKey(db, 'auditor', 'admin');
    for (let i = 1; i <= 5; i++) {
      await recordAudit(db, { apiKeyId: keyId, actor: 'auditor', action: 'test.page', target: `t:${i % 2}`, before: { i: i - 1 }, after: { i } });
    }
    const first = await listAudit(db, { limit: 2, action: 'test.page' });
    const second = await listAudit(db, { limit: 2, action: 'test.page', afterId: first.at(-1)!.id });
    const third = await listAudit(db, { limit: 2, action: 'test.page', afterId: second.at(-1)!.id });
    expect([...first, ...second, ...third].map((e) => (e.after as { i: number }).i)).toEqual([5, 4, 3, 2, 1]);
    expect((await listAudit(db, { limit: 10, action: 'test.page', target: 't:0' })).map((e) => e.after)).toEqual([{ i: 4 }, { i: 2 }]);
  });
});
