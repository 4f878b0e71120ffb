import { createApiKey } from '@lr/db';
import { testLicense } from '@lr/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, categoryBody, expectError, startTestApp, type App, type TestApp } from './harness';

let testApp: TestApp | undefined;
let t: TestApp;
let app: App;
let registry: Record<string, string>;
let registryKeyId: number;
let operator: Record<string, string>;
let viewer: Record<string, string>;

function get(url: string, headers: Record<string, string> = admin) {
  return app.inject({ method: 'GET', url, headers });
}
function post(url: string, payload: unknown, headers: Record<string, string> = admin) {
  return app.inject({ method: 'POST', url, headers, payload: payload as Record<string, unknown> });
}
function patch(url: string, payload: unknown, headers: Record<string, string> = admin) {
  return app.inject({ method: 'PATCH', url, headers, payload: payload as Record<string, unknown> });
}

interface Item {
  id: number;
  actor: string;
  action: string;
  target: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  at: string;
}

/** The audit entries of one action, newest first, straight from the table (with the key id). */
function entries(action: string) {
  return t.database.db.selectFrom('auditLog').selectAll().where('action', '=', action).orderBy('id', 'desc').execute();
}

async function entryCount(): Promise<number> {
  const row = await t.database.db.selectFrom('auditLog').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

beforeAll(async () => {
  testApp = await startTestApp();
  t = testApp;
  app = t.app;
  const created = await createApiKey(t.database.db, 'registry office', 'admin');
  registry = auth(created.key);
  registryKeyId = created.id;
  operator = auth((await createApiKey(t.database.db, 'service centre', 'operator')).key);
  viewer = auth((await createApiKey(t.database.db, 'county office', 'viewer')).key);
  const res = await post('/v1/categories', categoryBody('food-business'));
  expect(res.statusCode, res.body).toBe(201);
});

afterAll(async () => {
  await testApp?.close();
});

describe('audit entries of admin writes', () => {
  it('creating a category records who, the target and the stored category, in the key’s name', async () => {
    const res = await post('/v1/categories', categoryBody('hygiene', { leadDays: [10, 60] }), registry);
    expect(res.statusCode, res.body).toBe(201);
    const [entry] = await entries('category.create').then((all) => all.filter((e) => e.target === 'category:hygiene'));
    expect(entry).toMatchObject({ apiKeyId: registryKeyId, actor: 'registry office', before: null });
    expect(entry!.after).toMatchObject({ code: 'hygiene', leadDays: [60, 10], enabled: true, channels: ['sms', 'push'] });
    expect(entry!.after).not.toHaveProperty('preview');
  });

  it('patching a category records the state before and after; the bootstrap key is ADMIN_API_KEY', async () => {
    const res = await patch('/v1/categories/hygiene', { name: '卫生许可证', enabled: false });
    expect(res.statusCode, res.body).toBe(200);
    const [entry] = await entries('category.update');
    expect(entry).toMatchObject({ apiKeyId: null, actor: 'ADMIN_API_KEY', target: 'category:hygiene' });
    expect(entry!.before).toMatchObject({ code: 'hygiene', name: '食品经营许可证', enabled: true });
    expect(entry!.after).toMatchObject({ code: 'hygiene', name: '卫生许可证', enabled: false });
  });

  it('a write that is refused writes no entry', async () => {
    const before = await entryCount();
    expectError(await post('/v1/categories', categoryBody('hygiene'), registry), 409, 'category_exists');
    expectError(await patch('/v1/categories/no-such-category', { enabled: false }), 404);
    expectError(await patch('/v1/categories/hygiene', { smsTemplate: '{nobody}' }), 422, 'unknown_placeholder');
    expectError(await post('/v1/licenses/batch', { licenses: [testLicense(), testLicense({ phone: '12345678901' })] }, registry), 422, 'invalid_licenses');
    expect(await entryCount()).toBe(before);
  });

  it('a licence batch records the counts and the number of rows, not the rows', async () => {
    const rows = [testLicense(), testLicense()];
    const res = await post('/v1/licenses/batch', { licenses: rows }, registry);
    expect(res.statusCode, res.body).toBe(200);
    const all = await entries('licenses.batch');
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      actor: 'registry office',
      target: 'licenses',
      before: null,
      after: { rows: 2, created: 2, updated: 0, renewed: 0, unchanged: 0 },
    });
    const text = JSON.stringify(all[0]);
    for (const row of rows) {
      expect(text).not.toContain(row.licenseNo);
      expect(text).not.toContain(row.holderIdNo);
    }
  });

  it('an operator’s scan is recorded as scan.run', async () => {
    const res = await post('/v1/scans', { asOf: '2026-03-01' }, operator);
    expect(res.statusCode, res.body).toBe(200);
    const [entry] = await entries('scan.run');
    expect(entry).toMatchObject({ actor: 'service centre', target: `scan:${res.json<{ id: number }>().id}`, before: null });
    // The entry records the scan as its answer says it.
    const answer = res.json<{ remindersCreated: number; messagesQueued: number }>();
    expect(entry!.after).toMatchObject({ asOf: '2026-03-01', status: 'succeeded', remindersCreated: answer.remindersCreated, messagesQueued: answer.messagesQueued });
  });
});

describe('an entry and its write are one transaction', () => {
  it('when the entry cannot be written, the write is undone', async () => {
    const licencesBefore = await t.database.db.selectFrom('licenses').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const entriesBefore = await entryCount();
    await sql`alter table audit_log add constraint test_refuse check (target <> 'category:refused' and action <> 'licenses.batch') not valid`.execute(t.database.db);
    try {
      expect((await post('/v1/categories', categoryBody('refused'), registry)).statusCode).toBe(500);
      expect((await post('/v1/licenses/batch', { licenses: [testLicense()] }, registry)).statusCode).toBe(500);
    } finally {
      await sql`alter table audit_log drop constraint test_refuse`.execute(t.database.db);
    }
    expect((await get('/v1/categories/refused')).statusCode).toBe(404);
    const licencesAfter = await t.database.db.selectFrom('licenses').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(licencesAfter.n)).toBe(Number(licencesBefore.n));
    expect(await entryCount()).toBe(entriesBefore);
  });
});

describe('GET /v1/audit', () => {
  it('lists entries newest first as { id, actor, action, target, before, after, at }', async () => {
    const res = await get('/v1/audit');
    expect(res.statusCode, res.body).toBe(200);
    const { items, nextCursor } = res.json<{ items: Item[]; nextCursor: string | null }>();
    expect(nextCursor).toBeNull();
    expect(items.map((i) => i.action)).toEqual(['scan.run', 'licenses.batch', 'category.update', 'category.create', 'category.create']);
    for (const item of items) expect(Object.keys(item).sort()).toEqual(['action', 'actor', 'after', 'at', 'before', 'id', 'target']);
    expect(items[2]).toMatchObject({ actor: 'ADMIN_API_KEY', target: 'category:hygiene', before: { enabled: true }, after: { enabled: false } });
    expect(new Date(items[0]!.at).toISOString()).toBe(items[0]!.at);
  });

  it('pages with cursor and limit in a stable order, and filters by action', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await patch('/v1/categories/food-business', { consultPhone: `0398-785631${i}` }, registry);
      expect(res.statusCode, res.body).toBe(200);
    }
    const all = (await get('/v1/audit?limit=1000')).json<{ items: Item[] }>().items;
    expect(all).toHaveLength(8);

    const seen: Item[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<{ items: Item[]; nextCursor: string | null }>();
      expect(body.items.length).toBeLessThanOrEqual(3);
      seen.push(...body.items);
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all);
    expect(seen.map((i) => i.id)).toEqual([...seen.map((i) => i.id)].sort((a, b) => b - a));

    const updates = (await get('/v1/audit?action=category.update&limit=2')).json<{ items: Item[]; nextCursor: string | null }>();
    expect(updates.items.map((i) => i.after?.consultPhone)).toEqual(['0398-7856312', '0398-7856311']);
    const rest = (await get(`/v1/audit?action=category.update&cursor=${updates.nextCursor}`)).json<{ items: Item[] }>();
    expect(rest.items.map((i) => i.target)).toEqual(['category:food-business', 'category:hygiene']);
    expect(rest.items[0]!.after?.consultPhone).toBe('0398-7856310');
  });

  it('rejects a bad cursor, limit or unknown parameter with 400', async () => {
    expectError(await get('/v1/audit?cursor=not-a-cursor'), 400);
    expectError(await get('/v1/audit?limit=0'), 400);
    expectError(await get('/v1/audit?limit=1001'), 400);
    expectError(await get('/v1/audit?colour=red'), 400);
  });

  it('is for admins only: 403 for operators and viewers, 401 without a key', async () => {
    expectError(await get('/v1/audit', operator), 403, 'forbidden');
    expectError(await get('/v1/audit', viewer), 403, 'forbidden');
    expectError(await get('/v1/audit', {}), 401, 'unauthorized');
    expect((await get('/v1/audit', registry)).statusCode).toBe(200);
  });
});
