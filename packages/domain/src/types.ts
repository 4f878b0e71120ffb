/** The shapes of the API (docs/api.md), in the product's words. */
export type Channel = 'sms' | 'push';
export type HolderType = 'enterprise' | 'individual';
export type LicenseStatus = 'active' | 'revoked';

/** A business date, 'YYYY-MM-DD', in REMINDER_TIMEZONE. */
export type BusinessDate = string;

export interface Category {
  code: string;
  name: string;
  leadDays: number[];
  channels: Channel[];
  smsTemplate: string;
  pushTitle: string;
  pushBody: string;
  renewalUrl: string;
  consultPhone: string;
  enabled: boolean;
  /** SMS_PROVIDER=aliyun: the approved template's code (`SMS_` and digits) */
  aliyunTemplateCode?: string | null;
  /** SMS_PROVIDER=aliyun: the template's variables, each one of our templates (`{licenseName}`) */
  aliyunTemplateParams?: Record<string, string> | null;
}

/** A licence as administrators send it (batch JSON or one CSV row). */
export interface LicenseInput {
  categoryCode: string;
  licenseNo: string;
  holderName: string;
  holderType: HolderType;
  holderIdNo: string;
  phone?: string | null;
  platformUserId?: string | null;
  regionCode: string;
  validFrom: BusinessDate;
  expiresOn: BusinessDate;
  status?: LicenseStatus;
}

/** A validated licence, ready to store: phone in E.164 (+86...), optional fields null. */
export interface License {
  categoryCode: string;
  licenseNo: string;
  holderName: string;
  holderType: HolderType;
  holderIdNo: string;
  phone: string | null;
  platformUserId: string | null;
  regionCode: string;
  validFrom: BusinessDate;
  expiresOn: BusinessDate;
  status: LicenseStatus;
}

/** One problem with one field of one input row. */
export interface FieldError {
  field: string;
  message: string;
}
