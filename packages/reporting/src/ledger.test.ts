import { describe, expect, it } from 'vitest';
import { ledgerFilename, ledgerHeader } from './ledger';

describe('the ledger header', () => {
  it("is the contract's column names in English", () => {
    expect(ledgerHeader('en').join(',')).toBe(
      'asOf,categoryCode,categoryName,licenseNo,holderName,holderType,holderIdNo,phone,regionCode,expiresOn,leadDays,channel,status,attempts,sentAt,deliveredAt,errorCode,outcome',
    );
  });

  it('heads the same columns in Chinese', () => {
    expect(ledgerHeader('zh').join(',')).toBe(
      '提醒日期,证照类别代码,证照类别,证照编号,持证人,持证人类型,证件号码,手机号码,行政区划,到期日期,提前天数,提醒方式,状态,尝试次数,发送时间,送达时间,错误代码,续证结果',
    );
  });
});

describe('the ledger file name', () => {
  it('names the period, and the category and region when filtered', () => {
    expect(ledgerFilename({}, 'en')).toBe('ledger_all_all.csv');
    expect(ledgerFilename({ from: '2031-01-01', to: '2031-06-30' }, 'en')).toBe('ledger_2031-01-01_2031-06-30.csv');
    expect(ledgerFilename({ from: '2031-01-01', categoryCode: 'food-business', regionCode: '4112' }, 'zh')).toBe(
      '工作台账_2031-01-01_all_food-business_4112.csv',
    );
  });
});
