import { describe, expect, it } from 'vitest';
import { renderPush, renderSms, unknownPlaceholders, type ReminderFacts } from './render';
import { renewalLink } from './renewal-link';

const food = {
  name: '食品经营许可证',
  smsTemplate:
    '【卢氏县政务服务】{holderName}：您的{licenseName}（{licenseNo}）将于{expiresOn}到期，剩{daysLeft}天，请登录{renewalUrl}续证，咨询{consultPhone}',
  pushTitle: '{licenseName}即将到期',
  pushBody: '您的{licenseName}（{licenseNo}）将于{expiresOn}到期',
  renewalUrl: 'https://zwfw.example.gov.cn/renew/food',
  consultPhone: '0398-7001234',
};
const water = { ...food, name: '取水许可证', renewalUrl: 'https://zwfw.example.gov.cn/renew/water' };

const link = renewalLink('https://reminders.example.gov.cn', 'Xq3vT8kLm2Rw9ZpA');

function facts(over: Partial<ReminderFacts> = {}): ReminderFacts {
  return { holderName: '卢氏县好味餐饮有限公司', licenseNo: 'JY14112240001', expiresOn: '2026-12-30', daysLeft: 38, category: food, ...over };
}

describe('message rendering', () => {
  it('fills every placeholder of a single reminder from its category', () => {
    expect(renderSms([facts()], link)).toBe(
      '【卢氏县政务服务】卢氏县好味餐饮有限公司：您的食品经营许可证（JY14112240001）将于2026-12-30到期，剩38天，请登录https://zwfw.example.gov.cn/renew/food续证，咨询0398-7001234',
    );
    expect(renderPush([facts()], link)).toEqual({
      title: '食品经营许可证即将到期',
      body: '您的食品经营许可证（JY14112240001）将于2026-12-30到期',
      // A tap opens the message's personal link, which records it and leads on to the renewal.
      url: 'https://reminders.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA',
    });
  });

  it('fills {renewalLink} with the message’s whole link and {renewalToken} with its token alone', () => {
    const linked = { ...food, smsTemplate: '【卢氏县政务服务】{licenseNo}到期，办理 {renewalLink} 或输入码{renewalToken}', pushBody: '点击{renewalLink}' };
    expect(renderSms([facts({ category: linked })], link)).toBe(
      '【卢氏县政务服务】JY14112240001到期，办理 https://reminders.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA 或输入码Xq3vT8kLm2Rw9ZpA',
    );
    expect(renderPush([facts({ category: linked })], link).body).toBe('点击https://reminders.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA');
  });

  it('fills {licenseNo} in the category’s renewal URL, URL-encoded, for {renewalUrl}', () => {
    const byNumber = { ...food, smsTemplate: '{renewalUrl}', renewalUrl: 'https://zwfw.example.gov.cn/renew?no={licenseNo}&from=sms' };
    expect(renderSms([facts({ category: byNumber, licenseNo: '豫卫 2021/7&8' })], link)).toBe(
      'https://zwfw.example.gov.cn/renew?no=%E8%B1%AB%E5%8D%AB%202021%2F7%268&from=sms',
    );
  });

  it('lists several licences of one recipient in one SMS, each link and phone once', () => {
    const all = [
      facts(),
      facts({ licenseNo: 'JY14112240002', expiresOn: '2027-01-05', daysLeft: 44 }),
      facts({ licenseNo: 'A-411224-77', category: { ...water, consultPhone: '0398-7868127' } }),
    ];
    const text = renderSms(all, link);
    expect(text.startsWith('【卢氏县政务服务】卢氏县好味餐饮有限公司，您有3个证照即将到期')).toBe(true);
    expect(text).toContain('1. 食品经营许可证（JY14112240001）2026-12-30到期，剩38天');
    expect(text).toContain('2. 食品经营许可证（JY14112240002）2027-01-05到期，剩44天');
    expect(text).toContain('3. 取水许可证（A-411224-77）');
    // One personal link, whose page leads to each licence's renewal, instead of a link per category.
    expect(text.endsWith('\n续证办理：https://reminders.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA 咨询电话：0398-7001234、0398-7868127')).toBe(true);
    expect(text).not.toContain('renew/food');
    expect(text).not.toContain('renew/water');
    const push = renderPush(all, link);
    expect(push).toMatchObject({ title: '您有3个证照即将到期', url: 'https://reminders.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA' });
    expect(push.body).toContain('续证办理：https://reminders.example.gov.cn/r/Xq3vT8kLm2Rw9ZpA ');
  });

  it('names placeholders the contract does not know', () => {
    expect(unknownPlaceholders('{holderName} {licenceNo} {expiresOn} {}')).toEqual(['licenceNo', '']);
    expect(unknownPlaceholders(food.smsTemplate)).toEqual([]);
    expect(unknownPlaceholders('{renewalLink} {renewalToken} {renewalURL}')).toEqual(['renewalURL']);
  });
});
