/**
 * Saving a category answers with its messages rendered for a sample licensee, the SMS's
 * length in segments, and a warning when the SMS would take more than two.
 */
import { addDays, localDate } from '@lr/domain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, categoryBody, startTestApp, type App, type TestApp } from './harness';

let testApp: TestApp | undefined;
let app: App;

beforeAll(async () => {
  testApp = await startTestApp();
  ({ app } = testApp);
});

afterAll(async () => {
  await testApp?.close();
});

function post(payload: Record<string, unknown>) {
  return app.inject({ method: 'POST', url: '/v1/categories', headers: admin, payload });
}
function patch(code: string, payload: Record<string, unknown>) {
  return app.inject({ method: 'PATCH', url: `/v1/categories/${code}`, headers: admin, payload });
}
function get(url: string) {
  return app.inject({ method: 'GET', url, headers: admin });
}

/** 9 + 7 + 2 + 10 + 11 = 39 units: one segment */
const SHORT = '【卢氏县政务服务】{licenseName}将于{expiresOn}到期，请及时办理延续。';
/**
 * A full reminder. With the sample holder (11), licence number (16), date (10), 30 days
 * (2), this link (45) and phone (12): 93 + 45 + 1 = 139 units, three segments (67 + 67 + 5).
 */
const LONG =
  '【卢氏县政务服务】{holderName}您好，您的{licenseName}（编号{licenseNo}）将于{expiresOn}到期，还有{daysLeft}天。' +
  '请登录{renewalUrl}办理，咨询{consultPhone}。';
const fields = {
  name: '食品经营许可证',
  renewalUrl: 'https://www.hnzwfw.gov.cn/renew/food-business',
  consultPhone: '0398-7856315',
  pushTitle: '{licenseName}即将到期',
  pushBody: '您的{licenseName}（{licenseNo}）将于{expiresOn}到期',
};

/** The sample licence expires 30 days after today in Shanghai (read around the request, in case midnight passes). */
function sampleExpiry(): string[] {
  return [addDays(localDate('Asia/Shanghai'), 30)];
}

describe('category preview', () => {
  it('POST answers with the stored category and the preview of a short SMS: one segment, no warning', async () => {
    const before = sampleExpiry();
    const res = await post(categoryBody('preview-short', { ...fields, smsTemplate: SHORT }));
    const expiries = [...before, ...sampleExpiry()];
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ code: 'preview-short', smsTemplate: SHORT, leadDays: [60, 30, 10], enabled: true });
    expect(body.preview.sms).toMatchObject({ characters: 39, encoding: 'UCS-2', segments: 1 });
    expect(expiries.map((d) => `【卢氏县政务服务】食品经营许可证将于${d}到期，请及时办理延续。`)).toContain(body.preview.sms.text);
    expect(body.preview.push.title).toBe('食品经营许可证即将到期');
    expect(expiries.map((d) => `您的食品经营许可证（JY14112240012345）将于${d}到期`)).toContain(body.preview.push.body);
    expect(body.preview.warnings).toEqual([]);
  });

  it('POST of a full reminder counts three segments and warns', async () => {
    const res = await post(categoryBody('preview-long', { ...fields, smsTemplate: LONG }));
    expect(res.statusCode, res.body).toBe(201);
    const { preview } = res.json();
    expect(preview.sms.text).toMatch(/^【卢氏县政务服务】卢氏县示例餐饮有限公司您好，您的食品经营许可证（编号JY14112240012345）将于\d{4}-\d{2}-\d{2}到期，还有30天。/);
    expect(preview.sms.text).toContain('请登录https://www.hnzwfw.gov.cn/renew/food-business办理，咨询0398-7856315。');
    expect(preview.sms).toMatchObject({ characters: 139, encoding: 'UCS-2', segments: 3 });
    expect(preview.warnings).toHaveLength(1);
    expect(preview.warnings[0]).toContain('the SMS takes 3 segments');
  });

  it('warns only above two segments', async () => {
    // the sample holder's name is 11 characters: 11 + 123 = 134 units fill two segments exactly
    const two = await post(categoryBody('preview-two', { ...fields, smsTemplate: `{holderName}${'中'.repeat(123)}` }));
    expect(two.statusCode, two.body).toBe(201);
    expect(two.json().preview.sms).toMatchObject({ characters: 134, segments: 2 });
    expect(two.json().preview.warnings).toEqual([]);

    const three = await post(categoryBody('preview-three', { ...fields, smsTemplate: `{holderName}${'中'.repeat(124)}` }));
    expect(three.statusCode, three.body).toBe(201);
    expect(three.json().preview.sms).toMatchObject({ characters: 135, segments: 3 });
    expect(three.json().preview.warnings).toHaveLength(1);
  });

  it('counts an emoji as two units and never splits it across segments', async () => {
    // 11 + 55 + 2 (emoji) + 66 = 134 units, but the emoji cannot straddle the first boundary at 67
    const res = await post(categoryBody('preview-emoji', { ...fields, smsTemplate: `{holderName}${'中'.repeat(55)}😀${'中'.repeat(66)}` }));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().preview.sms).toMatchObject({ characters: 134, segments: 3 });
  });

  it('PATCH of the SMS template answers with the new preview', async () => {
    expect((await post(categoryBody('preview-patch', { ...fields, smsTemplate: SHORT }))).statusCode).toBe(201);

    const longer = await patch('preview-patch', { smsTemplate: LONG });
    expect(longer.statusCode, longer.body).toBe(200);
    expect(longer.json()).toMatchObject({ code: 'preview-patch', smsTemplate: LONG });
    expect(longer.json().preview.sms).toMatchObject({ characters: 139, segments: 3 });
    expect(longer.json().preview.warnings).toHaveLength(1);

    const shorter = await patch('preview-patch', { smsTemplate: SHORT });
    expect(shorter.statusCode, shorter.body).toBe(200);
    expect(shorter.json().preview.sms).toMatchObject({ characters: 39, segments: 1 });
    expect(shorter.json().preview.warnings).toEqual([]);
  });

  it('PATCH of another field renders it into the preview too', async () => {
    expect((await post(categoryBody('preview-rename', { ...fields, smsTemplate: SHORT }))).statusCode).toBe(201);
    const res = await patch('preview-rename', { name: '取水许可证' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().preview.sms).toMatchObject({ characters: 37, segments: 1 });
    expect(res.json().preview.sms.text).toContain('取水许可证将于');
    expect(res.json().preview.push.title).toBe('取水许可证即将到期');
  });

  it('GET of one category has the preview; the list has none', async () => {
    expect((await post(categoryBody('preview-get', { ...fields, smsTemplate: LONG }))).statusCode).toBe(201);
    const one = await get('/v1/categories/preview-get');
    expect(one.statusCode, one.body).toBe(200);
    expect(one.json().preview.sms).toMatchObject({ characters: 139, segments: 3 });

    const list = await get('/v1/categories');
    expect(list.statusCode, list.body).toBe(200);
    const items: Record<string, unknown>[] = list.json().items;
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) expect(item).not.toHaveProperty('preview');
  });
});
