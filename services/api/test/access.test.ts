import { createApiKey, revokeApiKey } from '@lr/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, expectError, startTestApp, type TestApp } from './harness';

let testApp: TestApp | undefined;
let t: TestApp;

beforeAll(async () => {
  testApp = await startTestApp();
  t = testApp;
});

afterAll(async () => {
  await testApp?.close();
});

const categories = (key: string) => t.app.inject({ method: 'GET', url: '/v1/categories', headers: auth(key) });

describe('API keys at the API', () => {
  it('a key opens the API until it is revoked; then 401', async () => {
    const { id, key } = await createApiKey(t.database.db, 'temporary desk', 'viewer');
    expect((await categories(key)).statusCode).toBe(200);

    await revokeApiKey(t.database.db, id);
    expectError(await categories(key), 401, 'unauthorized');
  });

  it('records when a key was last used', async () => {
    const { id, key } = await createApiKey(t.database.db, 'recorded', 'viewer');
    const stored = () => t.database.db.selectFrom('apiKeys').select('lastUsedAt').where('id', '=', id).executeTakeFirstOrThrow();
    expect((await stored()).lastUsedAt).toBeNull();
    expect((await categories(key)).statusCode).toBe(200);
    expect((await stored()).lastUsedAt).toBeInstanceOf(Date);
  });
});
