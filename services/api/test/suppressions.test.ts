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
      expect(res.json()).toMatchObject({ phone: '139****5678', errorCode: '21610', reason: 'recipient has unsubscribed (replied STOP)', messageId: 7 });
    }
    expectError(await call('GET', '+8613700000000', viewer), 404, 'not_found');
  });

  it('a phone that is not a mainland mobile is a 400, not a 404', async () => {
    for (const bad of ['12345', 'not-a-phone', '+1 415 555 0100']) {
      const body = expectError(await call('GET', bad), 400, 'invalid_phone');
      expect(body.details).toEqual([{ field: 'phone', message: 'not a mainland China mobile number' }]);
    }
    expectError(await call('DELETE', '12345'), 400, 'invalid_phone');
    // Longer than any phone: refused by the route's schema before it is read.
    const long = expectError(await call('GET', '1'.repeat(41)), 400, 'invalid_request');
    expect(long.details).toEqual([{ field: 'params.phone', message: 'must NOT have more than 40 characters' }]);
  });

  it('an admin may clear one too', async () => {
    await suppressPhone(t.database.db, { phone: '+8613800002222', errorCode: '21610', reason: 'unsubscribed', messageId: null });
    expect((await call('DELETE', '+8613800002222', admin)).statusCode).toBe(200);
    expectError(await call('GET', '+8613800002222'), 404, 'not_found');
  });

  it('an operator clears it once, with an audit entry that does not show the phone; a viewer may not', async () => {
    await suppressPhone(t.database.db, { phone: '+8613800001111', errorCode: '21610', reason: 'unsubscribed', messageId: null });
    expectError(await call('DELETE', '+8613800001111', viewer), 403);
    expect((await call('GET', '+8613800001111')).statusCode).toBe(200);

    const res = await call('DELETE', '13800001111', operator);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ cleared: { phone: '138****1111', errorCode: '21610' } });
    expectError(await call('GET', '+8613800001111'), 404, 'not_found');
    expectError(await call('DELETE', '+8613800001111', operator), 404, 'not_found');

    const audit = await t.database.db.selectFrom('auditLog').selectAll().where('action', '=', 'suppression.clear').where('actor', '=', 'service centre').execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'service centre', target: 'suppression:138****1111' });
    expect(JSON.stringify(audit[0])).not.toContain('13800001111');
  });

  it('needs an API key, to read and to clear', async () => {
    for (const method of ['GET', 'DELETE'] as const) {
      expectError(await t.app.inject({ method, url: `/v1/suppressions/${encodeURIComponent(PHONE)}` }), 401);
    }
  });
});
