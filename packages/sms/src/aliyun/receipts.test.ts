import { describe, expect, it } from 'vitest';
import { receiptOfDetail, receiptOfReport, reportErrorMessage } from './receipts';

describe("an Alibaba Cloud report as the operator sees it", () => {
  it('is delivered when success says so, whatever code comes with it', () => {
    expect(receiptOfReport({ success: true, errCode: 'DELIVERED' })).toEqual({ status: 'delivered' });
    expect(receiptOfReport({ success: true })).toEqual({ status: 'delivered' });
  });

  it('is undelivered with the code when it failed, and UNDELIV when it names none (or a delivered one)', () => {
    expect(receiptOfReport({ success: false, errCode: 'MK:0001', errMsg: '空号' })).toMatchObject({ status: 'undelivered', error: { code: 'MK:0001' } });
    for (const errCode of [undefined, '', ' ', 'DELIVRD']) {
      expect(receiptOfReport({ success: false, errCode }).error?.code, String(errCode)).toBe('UNDELIV');
    }
  });

  it.each([
    ['UNDELIV', /^not delivered: the phone is suspended/],
    ['EXPIRED', /^not delivered in time/],
    ['REJECTD', /^refused by the carrier/],
    ['MBBLACK', /blacklist/],
    ['DBBLACK', /blacklist/],
    ['KEYWORD', /keyword filter/],
    ['MK:0001', /number is not in use, suspended, switched off or unreachable/],
    ['MN:0017', /number is not in use/],
    ['MI:0059', /number is not in use/],
    ['LT:0001', /number is not in use/],
  ])('says what %s means', (code, meaning) => {
    const message = reportErrorMessage(code, undefined);
    expect(message).toMatch(meaning);
    expect(message).toMatch(new RegExp(`\\(Alibaba Cloud ${code}\\)$`));
  });

  it("shows a code it does not know with Alibaba Cloud's own note", () => {
    expect(reportErrorMessage('ID:0076', '运营商关键词拦截')).toBe('not delivered (Alibaba Cloud ID:0076: 运营商关键词拦截)');
    expect(reportErrorMessage('XX', '  ')).toBe('not delivered (Alibaba Cloud XX)');
  });
});

describe('receiptOfDetail: an SMS QuerySendDetails lists, read as its report would be', () => {
  it('is delivered at SendStatus 3, undelivered with the carrier code and its meaning at 2, and waits at 1', () => {
    expect(receiptOfDetail({ sendStatus: 3, errCode: 'DELIVERED' })).toEqual({ status: 'delivered' });
    expect(receiptOfDetail({ sendStatus: 2, errCode: 'MK:0001' })).toEqual(receiptOfReport({ success: false, errCode: 'MK:0001' }));
    expect(receiptOfDetail({ sendStatus: 2, errCode: null })).toMatchObject({ status: 'undelivered', error: { code: 'UNDELIV' } });
    expect(receiptOfDetail({ sendStatus: 1, errCode: null })).toBeUndefined();
  });
});
