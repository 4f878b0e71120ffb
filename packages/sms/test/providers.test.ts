// SMS_PROVIDER's choice, from the settings as each service reads them to the provider's own
// API (its fake at the HTTP level): the part each service gets, and that it goes where the
// settings say.
import { loadConfig } from '@lr/config';
import { renderTemplateSms } from '@lr/domain';
import { createLogger } from '@lr/log';
import { fakeAliyun, fakeTwilio, providerEnv, TEST_ALIYUN, TEST_ALIYUN_REPORT_TOKEN, testCategory, type FakeAliyun, type FakeTwilio } from '@lr/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiptLookUp, receiptPushes, sendsTemplates, smsSender } from '../src';

const log = createLogger('providers-test', 'silent');
const API_ENV = { INBOX_JWT_SECRET: 'x'.repeat(32), PII_KEY: 'k'.repeat(32) };
const PHONE = '+8613712345678';

let aliyun: FakeAliyun;
let twilio: FakeTwilio;

beforeAll(async () => {
  [aliyun, twilio] = await Promise.all([fakeAliyun(), fakeTwilio()]);
});

afterAll(async () => {
  await Promise.all([aliyun?.close(), twilio?.close()]);
});

describe('SMS_PROVIDER=aliyun', () => {
  const env = () => providerEnv({ aliyun });

  it("gives the SMS worker a sender of approved templates that sends with the settings' key, signature and endpoint", async () => {
    const sender = smsSender(loadConfig('sms-worker', env()), log);
    expect(sender.digestTemplateCode).toBe(TEST_ALIYUN.digestTemplateCode);
    // Two licences: the digest template.
    const category = testCategory({ channels: ['sms'] });
    const facts = (licenseNo: string, expiresOn: string, daysLeft: number) => ({ holderName: '卢氏县老街面馆', licenseNo, expiresOn, daysLeft, category });
    const link = { url: 'https://reminders.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA', token: 'Xq3vT8kLm2Rw9ZpA' };
    const template = renderTemplateSms([facts('JY1', '2026-03-31', 30), facts('JY2', '2026-04-10', 40)], link, sender.digestTemplateCode!);
    const { providerMessageId } = await sender.send(PHONE, 'the text', { messageId: 41, template });
    expect(aliyun.sms()).toEqual([
      expect.objectContaining({ phone: '13712345678', signName: TEST_ALIYUN.signName, templateCode: TEST_ALIYUN.digestTemplateCode, outId: '41', bizId: providerMessageId }),
    ]);
    expect(aliyun.badSignatures()).toBe(0);
  });

  it('gives the scheduler a look-up after ALIYUN_SMS_RECONCILE_MINUTES, and the API the receipt URL with its token', () => {
    expect(receiptLookUp(loadConfig('scheduler', { ...env(), ALIYUN_SMS_RECONCILE_MINUTES: '45' }))).toMatchObject({ provider: 'Alibaba Cloud', afterMinutes: 45 });
    expect(receiptPushes(loadConfig('api', { ...API_ENV, ...env() }).sms)).toEqual([
      expect.objectContaining({ provider: 'Alibaba Cloud', path: '/webhooks/aliyun/sms-report', token: TEST_ALIYUN_REPORT_TOKEN }),
    ]);
    expect(sendsTemplates('aliyun')).toBe(true);
  });
});

describe('SMS_PROVIDER=twilio', () => {
  const env = () => providerEnv({ twilio });

  it('gives the SMS worker a sender of text that sends through the settings\' API base, and suppresses on STOP (21610)', async () => {
    const sender = smsSender(loadConfig('sms-worker', env()), log);
    expect(sender.digestTemplateCode).toBeUndefined();
    expect([...(sender.optOutCodes ?? [])]).toEqual(['21610']);
    const { providerMessageId } = await sender.send(PHONE, '您的食品经营许可证将于2026-03-31到期', { messageId: 42 });
    expect(twilio.sms()).toEqual([expect.objectContaining({ to: PHONE, body: '您的食品经营许可证将于2026-03-31到期', sid: providerMessageId })]);
  });

  it('has no look-up for the scheduler (Twilio retries its callbacks), and no pushed receipt URL with a token', () => {
    expect(receiptLookUp(loadConfig('scheduler', env()))).toBeNull();
    // Alibaba Cloud's URL is still served, so that a push to it is refused (403), not unknown.
    expect(receiptPushes(loadConfig('api', { ...API_ENV, ...env() }).sms)).toEqual([expect.objectContaining({ path: '/webhooks/aliyun/sms-report', token: null })]);
    expect(sendsTemplates('twilio')).toBe(false);
  });
});

describe('SMS_PROVIDER=log', () => {
  it('gives a sender that looks nothing up and needs no template, and nothing to the scheduler', async () => {
    const sender = smsSender(loadConfig('sms-worker', {}), log);
    expect('findSent' in sender).toBe(false);
    expect(sender.digestTemplateCode).toBeUndefined();
    expect((await sender.send(PHONE, 'text', { messageId: 43 })).providerMessageId).toMatch(/^LOG[0-9a-f]{32}$/);
    expect(receiptLookUp(loadConfig('scheduler', {}))).toBeNull();
  });
});
