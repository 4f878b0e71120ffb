import { describe, expect, it } from 'vitest';
import { categoryPreview, withPreview } from './category-preview';
import { localDate } from './dates';
import type { Category } from './types';

const food: Category = {
  code: 'food-business',
  name: '食品经营许可证',
  leadDays: [60, 30, 10],
  channels: ['sms', 'push'],
  smsTemplate:
    '【卢氏县政务服务】{holderName}您好，您的{licenseName}（编号{licenseNo}）将于{expiresOn}到期，还有{daysLeft}天。请登录{renewalUrl}办理，咨询{consultPhone}。',
  pushTitle: '{licenseName}即将到期',
  pushBody: '您的{licenseName}（{licenseNo}）将于{expiresOn}到期',
  renewalUrl: 'https://www.hnzwfw.gov.cn/renew/food-business',
  consultPhone: '0398-7856315',
  enabled: true,
};
const today = '2026-03-31';

describe('category preview', () => {
  it('renders the templates for the sample licensee, expiring 30 days on', () => {
    const preview = categoryPreview(food, { today });
    expect(preview.sms.text).toBe(
      '【卢氏县政务服务】卢氏县示例餐饮有限公司您好，您的食品经营许可证（编号JY14112240012345）将于2026-04-30到期，' +
        '还有30天。请登录https://www.hnzwfw.gov.cn/renew/food-business办理，咨询0398-7856315。',
    );
    expect(preview.push).toEqual({
      title: '食品经营许可证即将到期',
      body: '您的食品经营许可证（JY14112240012345）将于2026-04-30到期',
    });
  });

  it('counts the SMS in segments and warns above two', () => {
    // 139 UCS-2 units: 67 + 67 + 5
    const preview = categoryPreview(food, { today });
    expect(preview.sms).toMatchObject({ characters: 139, encoding: 'UCS-2', segments: 3 });
    expect(preview.warnings).toHaveLength(1);
    expect(preview.warnings[0]).toMatch(/^the SMS takes 3 segments .*carriers bill each segment/);
  });

  it("warns, with an Alibaba Cloud template, of a name or consultPhone too long for the digest's variables", () => {
    const aliyun = { ...food, aliyunTemplateCode: 'SMS_100000001', aliyunTemplateParams: { no: '{licenseNo}' } };
    const digest = (w: string[]) => w.filter((warning) => warning.includes('digest'));
    expect(digest(categoryPreview(aliyun, { today }).warnings)).toEqual([]);
    const warnings = digest(categoryPreview({ ...aliyun, name: '卢'.repeat(36) }, { today }).warnings);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^name has 36 characters; the digest template sends it as its variable "first".*template_param_too_long/);
  });

  it('does not warn at one or two segments', () => {
    // 9 + 7 + 2 + 10 + 11 = 39 units
    const short = categoryPreview({ ...food, smsTemplate: '【卢氏县政务服务】{licenseName}将于{expiresOn}到期，请及时办理延续。' }, { today });
    expect(short.sms).toEqual({
      text: '【卢氏县政务服务】食品经营许可证将于2026-04-30到期，请及时办理延续。',
      characters: 39,
      encoding: 'UCS-2',
      segments: 1,
    });
    expect(short.warnings).toEqual([]);
    // the holder's name (11) and 123 more characters: 134 units, the most two segments hold
    const two = categoryPreview({ ...food, smsTemplate: `{holderName}${'中'.repeat(123)}` }, { today });
    expect(two.sms).toMatchObject({ characters: 134, segments: 2 });
    expect(two.warnings).toEqual([]);
    const three = categoryPreview({ ...food, smsTemplate: `{holderName}${'中'.repeat(124)}` }, { today });
    expect(three.sms).toMatchObject({ characters: 135, segments: 3 });
    expect(three.warnings).toHaveLength(1);
  });

  it('counts an English template in GSM-7', () => {
    const preview = categoryPreview({ ...food, name: 'Food licence', smsTemplate: 'Your {licenseName} {licenseNo} expires on {expiresOn}.' }, { today });
    expect(preview.sms).toEqual({
      text: 'Your Food licence JY14112240012345 expires on 2026-04-30.',
      characters: 57,
      encoding: 'GSM-7',
      segments: 1,
    });
  });

  it('takes today in Asia/Shanghai when no date is given', () => {
    const expected = new Date(Date.parse(`${localDate('Asia/Shanghai')}T00:00:00Z`) + 30 * 86_400_000).toISOString().slice(0, 10);
    expect(categoryPreview({ ...food, smsTemplate: '{expiresOn}' }).sms.text).toBe(expected);
  });

  it('renders {renewalLink} and {renewalToken} as a real link of the service’s address, counted at its full length', () => {
    const linked = { ...food, smsTemplate: '【卢氏县政务服务】{licenseName}将于{expiresOn}到期，办理：{renewalLink} 码{renewalToken}', pushBody: '{renewalLink}' };
    const preview = categoryPreview(linked, { today, linkBaseUrl: 'https://reminders.example.gov.cn' });
    expect(preview.sms.text).toBe(
      '【卢氏县政务服务】食品经营许可证将于2026-04-30到期，办理：https://reminders.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA 码Xq3vT8kLm2Rw9ZpA',
    );
    // 9 + 7 + 2 + 10 + 6 + 51 (32 + 3 + 16) + 2 + 16 units
    expect(preview.sms).toMatchObject({ characters: 103, segments: 2 });
    expect(preview.push.body).toBe('https://reminders.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA');
    // Without the service's address, a sample one.
    expect(categoryPreview(linked, { today }).push.body).toBe('https://zwfw.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA');
  });

  it('adds the preview to the category', () => {
    const shown = withPreview(food, { today });
    expect(shown).toMatchObject(food);
    expect(shown.preview.sms.segments).toBe(3);
  });
});
