/**
 * Category fields for Alibaba Cloud SMS (docs/aliyun.md): the approved
 * template's code and its variables, checked when saved, required with the sms channel under
 * SMS_PROVIDER=aliyun, and shown in the preview as they will be sent.
 */
import { insertCategory } from '@lr/db';
import { ALIYUN_API_ENV, testCategory } from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, categoryBody, expectErrorShape, startTestApp, type App, type TestApp } from './harness';

const aliyunFields = {
  aliyunTemplateCode: 'SMS_100000001',
  aliyunTemplateParams: { name: '{licenseName}', no: '{licenseNo}', date: '{expiresOn}', token: '{renewalToken}', tel: '{consultPhone}' },
};

describe('category template fields under SMS_PROVIDER=aliyun', () => {
  let testApp: TestApp | undefined;
  let app: App;
  beforeAll(async () => {
    testApp = await startTestApp(ALIYUN_API_ENV);
    ({ app } = testApp);
  });
  afterAll(() => testApp?.close());

  const post = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload });
  const patch = (code: string, payload: Record<string, unknown>) => app.inject({ method: 'PATCH', url: `/v1/categories/${code}`, headers: admin, payload });

  it('saves them and previews the variables as they will be sent', async () => {
    const res = await post(categoryBody('al-food', aliyunFields));
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body).toMatchObject(aliyunFields);
    expect(body.preview.aliyun).toMatchObject({
      templateCode: 'SMS_100000001',
      templateParam: { name: '食品经营许可证', no: 'JY14112240012345', token: 'Xq3vT8kLm2Rw9ZpA', tel: '0398-7856315' },
    });
    expect(body.preview.aliyun.templateParam.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const read = await app.inject({ method: 'GET', url: '/v1/categories/al-food', headers: admin });
    expect(read.json()).toMatchObject(aliyunFields);
  });

  it('requires both with the sms channel: 422 naming the field', async () => {
    const missingCode = expectErrorShape(await post(categoryBody('al-a', { aliyunTemplateParams: aliyunFields.aliyunTemplateParams })), 422, 'sms_template_required');
    expect(missingCode.details).toEqual([{ field: 'aliyunTemplateCode', message: expect.any(String) }]);
    const missingBoth = expectErrorShape(await post(categoryBody('al-b')), 422, 'sms_template_required');
    expect(missingBoth.details!.map((d) => d.field)).toEqual(['aliyunTemplateCode', 'aliyunTemplateParams']);
    // Push only: no template needed.
    expect((await post(categoryBody('al-push', { channels: ['push'] }))).statusCode).toBe(201);
    // Adding sms to it later needs them too; clearing them off an sms category is refused.
    expectErrorShape(await patch('al-push', { channels: ['sms', 'push'] }), 422, 'sms_template_required');
    expectErrorShape(await patch('al-food', { aliyunTemplateCode: null }), 422, 'sms_template_required');
    expect((await patch('al-push', { channels: ['sms', 'push'], ...aliyunFields })).statusCode).toBe(200);
  });

  it('knows only our placeholders, and template codes of Alibaba Cloud form', async () => {
    const unknown = expectErrorShape(await post(categoryBody('al-c', { ...aliyunFields, aliyunTemplateParams: { name: '{licenceName}' } })), 422, 'unknown_placeholder');
    expect(unknown.details).toEqual([{ field: 'aliyunTemplateParams', message: 'name: unknown placeholder {licenceName}' }]);
    expect((await post(categoryBody('al-d', { ...aliyunFields, aliyunTemplateCode: 'TPL_1' }))).statusCode).toBe(400);
  });

  it('refuses a variable carrying a link ({renewalLink}, {renewalUrl}): 422 naming the field', async () => {
    for (const link of ['{renewalLink}', '{renewalUrl}']) {
      const refused = expectErrorShape(await post(categoryBody('al-link', { ...aliyunFields, aliyunTemplateParams: { ...aliyunFields.aliyunTemplateParams, token: link } })), 422, 'unknown_placeholder');
      expect(refused.details).toEqual([{ field: 'aliyunTemplateParams', message: expect.stringContaining(`token: ${link} is a link`) }]);
    }
    expectErrorShape(await patch('al-food', { aliyunTemplateParams: { ...aliyunFields.aliyunTemplateParams, token: '{renewalLink}' } }), 422, 'unknown_placeholder');
  });

  it("refuses a name or consultPhone over 35 characters, which the digest sends as variables: 422 naming the field", async () => {
    const longName = expectErrorShape(await post(categoryBody('al-long', { ...aliyunFields, name: '卢'.repeat(36) })), 422, 'template_param_too_long');
    expect(longName.details).toEqual([{ field: 'name', message: expect.stringContaining('"first"') }]);
    const longPhone = expectErrorShape(await patch('al-food', { consultPhone: '0398-7856315 或 0398-7856316 或 0398-7856' }), 422, 'template_param_too_long');
    expect(longPhone.details).toEqual([{ field: 'consultPhone', message: expect.stringContaining('"tel"') }]);
    // Push only: no SMS, no digest.
    expect((await post(categoryBody('al-long-push', { channels: ['push'], name: '卢'.repeat(36) }))).statusCode).toBe(201);
  });

  it('do not stop a category the switch to Alibaba Cloud left without them from being disabled; enabling it again asks for them', async () => {
    // A category saved while SMS went through Twilio: no template.
    await insertCategory(testApp!.database.db, testCategory({ code: 'al-before', channels: ['sms'] }));
    const disabled = await patch('al-before', { enabled: false });
    expect(disabled.statusCode, disabled.body).toBe(200);
    expect(disabled.json()).toMatchObject({ enabled: false });
    const enabled = await patch('al-before', { enabled: true });
    expect(expectErrorShape(enabled, 422, 'sms_template_required').details?.map((d) => d.field)).toEqual(['aliyunTemplateCode', 'aliyunTemplateParams']);
    expect(await patch('al-before', { enabled: true, ...aliyunFields })).toMatchObject({ statusCode: 200 });
    // A new category is checked whether enabled or not.
    const created = await post(categoryBody('al-new-disabled', { channels: ['sms'], enabled: false }));
    expect(expectErrorShape(created, 422, 'sms_template_required').details?.map((d) => d.field)).toEqual(['aliyunTemplateCode', 'aliyunTemplateParams']);
  });

  it('warns in the preview when a variable would be over 35 characters', async () => {
    const res = await post(categoryBody('al-e', { ...aliyunFields, aliyunTemplateParams: { name: '{holderName}{licenseName}{licenseNo}{daysLeft}' } }));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().preview.warnings.join(' ')).toContain('template_param_too_long');
  });
});

describe('category template fields under another SMS provider', () => {
  let testApp: TestApp | undefined;
  beforeAll(async () => {
    testApp = await startTestApp();
  });
  afterAll(() => testApp?.close());

  it('are optional', async () => {
    const res = await testApp!.app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload: categoryBody('tw-food') });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ aliyunTemplateCode: null, aliyunTemplateParams: null });
  });
});
