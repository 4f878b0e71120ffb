/**
 * The columns a licence brings to every CSV the service writes (the ledger, the follow-up
 * list), in the order both write them after the licence's category; and the Chinese headings
 * of those and of the category's code: one wording for one column, whichever report.
 */
export const LICENSE_COLUMNS = ['licenseNo', 'holderName', 'holderType', 'holderIdNo', 'phone', 'regionCode', 'expiresOn'] as const;

export const LICENSE_HEADINGS = {
  categoryCode: '证照类别代码',
  licenseNo: '证照编号',
  holderName: '持证人',
  holderType: '持证人类型',
  holderIdNo: '证件号码',
  phone: '手机号码',
  regionCode: '行政区划',
  expiresOn: '到期日期',
} as const satisfies Record<'categoryCode' | (typeof LICENSE_COLUMNS)[number], string>;
