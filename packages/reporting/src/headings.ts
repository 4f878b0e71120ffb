/**
 * The Chinese headings of the columns a licence's holder brings to every CSV the service
 * writes (the ledger, the follow-up list): one wording for one column, whichever report.
 */
export const LICENSE_HEADINGS = {
  categoryCode: '证照类别代码',
  licenseNo: '证照编号',
  holderName: '持证人',
  holderType: '持证人类型',
  holderIdNo: '证件号码',
  phone: '手机号码',
  regionCode: '行政区划',
  expiresOn: '到期日期',
} as const;
