import { createApiKey, suppressPhone } from '@lr/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, auth, expectError, startTestApp, type TestApp } from './harness';

let t: TestApp;
let operator: Record<string, string>;
let viewer: Record<string, string>;

const PHONE = '+8613912345678';

function call(method: 'GET' | 'DELETE', phone: string, headers: Record<string, string> = admin) {
  return t.app.inject({ method, url: `/v1/suppressions/${encodeURIComponent(phone)}`, headers });
}

beforeAll(async () => {
  t = await startTestApp();
  operator = auth((await createApiKey(t.database.db, 'service centre', 'operator')).key);
  viewer = auth((await createApiKey(t.database.db, 'county office', 'viewer')).key);
});

afterAll(async () => {
  await t?.close();
});

describe('/v1/suppressions/{phone}', () => {
  it('shows a suppressed phone, written with or without +86, and 404 for one that is not', async () => {
    await suppressPhone(t.database.db, { phone: PHONE, errorCode: '21610', reason: 'recipient has unsubscribed (replied STOP)', messageId: 7 });
    for (const written of [PHONE, '13912345678', '+86 139-1234-5678']) {
      const res = await call('GET', written, viewer);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ phone: PHONE, errorCode: '21610', reason: 'recipient has unsubscribed (replied STOP)', messageId: 7 });
    }
    expectError(await call('GET', '+8613700000000', viewer), 404, 'not_found');
  });

  it('a phone that is not a mainland mobile is a 400, not a 404', async () => {
    for (const bad of ['12345', 'not-a-phone', '+1 415 555 0100']) {
      const body = expectError(await call('GET', bad), 400, 'invalid_phone');
      expect(body.details).toEqual([{ field: 'phone', message: 'not a mainland China mobile number' }]);
    }
    expectError(await call('DELETE', '12345'), 400, 'invalid_phone');
  });

  it('an operator clears it once, with an audit entry that does not show the phone; a viewer may not', async () => {
    await suppressPhone(t.database.db, { phone: '+8613800001111', errorCode: '21610', reason: 'unsubscribed', messageId: null });
    expectError(await call('DELETE', '+8613800001111', viewer), 403);
    expect((await call('GET', '+8613800001111')).statusCode).toBe(200);

    const res = await call('DELETE', '13800001111', operator);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ cleared: { phone: '+8613800001111', errorCode: '21610' } });
    expectError(await call('GET', '+8613800001111'), 404, 'not_found');
    expectError(await call('DELETE', '+8613800001111', operator), 404, 'not_found');

    const audit = await t.database.db.selectFrom('auditLog').selectAll().where('action', '=', 'suppression.clear').execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'service centre', target: 'suppression:138****1111' });
    expect(JSON.stringify(audit[0])).not.toContain('13800001111');
  });

  it('needs an API key', async () => {
    expectError(await t.app.inject({ method: 'GET', url: `/v1/suppressions/${encodeURIComponent(PHONE)}` }), 401);
  });
});
