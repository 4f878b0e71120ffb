import { describe, expect, it } from 'vitest';
import { renderPush, renderSms, unknownPlaceholders, type ReminderFacts } from './render';

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

function facts(over: Partial<ReminderFacts> = {}): ReminderFacts {
  return { holderName: '卢氏县好味餐饮有限公司', licenseNo: 'JY14112240001', expiresOn: '2026-12-30', daysLeft: 38, category: food, ...over };
}

describe('message rendering', () => {
  it('fills every placeholder of a single reminder from its category', () => {
    expect(renderSms([facts()])).toBe(
      '【卢氏县政务服务】卢氏县好味餐饮有限公司：您的食品经营许可证（JY14112240001）将于2026-12-30到期，剩38天，请登录https://zwfw.example.gov.cn/renew/food续证，咨询0398-7001234',
    );
    expect(renderPush([facts()])).toEqual({
      title: '食品经营许可证即将到期',
      body: '您的食品经营许可证（JY14112240001）将于2026-12-30到期',
      url: 'https://zwfw.example.gov.cn/renew/food',
    });
  });

  it('lists several licences of one recipient in one SMS, each link and phone once', () => {
    const text = renderSms([
      facts(),
      facts({ licenseNo: 'JY14112240002', expiresOn: '2027-01-05', daysLeft: 44 }),
      facts({ licenseNo: 'A-411224-77', category: water }),
    ]);
    expect(text.startsWith('【卢氏县政务服务】卢氏县好味餐饮有限公司，您有3个证照即将到期')).toBe(true);
    expect(text).toContain('1. 食品经营许可证（JY14112240001）2026-12-30到期，剩38天');
    expect(text).toContain('2. 食品经营许可证（JY14112240002）2027-01-05到期，剩44天');
    expect(text).toContain('3. 取水许可证（A-411224-77）');
    expect(text.split('renew/food').length - 1).toBe(1);
    expect(text).toContain('renew/water');
  });

  it('names placeholders the contract does not know', () => {
    expect(unknownPlaceholders('{holderName} {licenceNo} {expiresOn} {}')).toEqual(['licenceNo', '']);
    expect(unknownPlaceholders(food.smsTemplate)).toEqual([]);
  });
});
