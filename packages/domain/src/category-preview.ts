/**
 * What a category's messages look like, shown to the administrator who saves it: its
 * templates rendered for a sample licensee, the SMS's length as carriers count it, and
 * warnings about what would cost or lose messages.
 */
import { addDays, localDate } from './dates';
import { renderPush, renderSms, type ReminderFacts } from './render';
import { renewalLink, type RenewalLink } from './renewal-link';
import { smsSegments, type SmsEncoding } from './sms-segments';
import { digestFieldProblems, renderTemplateSms, TEMPLATE_PARAM_TOO_LONG, type TemplateSms } from './sms-template';
import type { BusinessDate, Category } from './types';

/** A realistic, longish enterprise name, so that the preview does not flatter the length. */
export const SAMPLE_HOLDER_NAME = '卢氏县示例餐饮有限公司';
export const SAMPLE_LICENSE_NO = 'JY14112240012345';
export const SAMPLE_DAYS_LEFT = 30;
/** A token as long as every real one (16 characters), so that `{renewalLink}` counts as it will. */
export const SAMPLE_LINK_TOKEN = 'Xq3vT8kLm2Rw9ZpA';
/** The link's address when the caller does not give the service's own. */
export const SAMPLE_LINK_BASE = 'https://zwfw.example.gov.cn';
/** More segments than this draws a warning. */
export const MAX_SMS_SEGMENTS_WITHOUT_WARNING = 2;

export interface CategoryPreview {
  sms: {
    text: string;
    /** the length as carriers count it: GSM-7 septets or UTF-16 code units (see smsSegments) */
    characters: number;
    encoding: SmsEncoding;
    segments: number;
  };
  push: { title: string; body: string };
  /**
   * With aliyunTemplateCode and aliyunTemplateParams: the template and its variables as they
   * will be sent for the sample licensee (Alibaba Cloud SMS).
   */
  aliyun?: TemplateSms;
  warnings: string[];
}

export interface PreviewOptions {
  /** the sample's scan date [today in `timezone`]; the licence expires SAMPLE_DAYS_LEFT days later */
  today?: BusinessDate;
  /** [Asia/Shanghai] */
  timezone?: string;
  /** the address renewal links start with (the API's PUBLIC_BASE_URL) [SAMPLE_LINK_BASE] */
  linkBaseUrl?: string;
}

/** The sample message's renewal link. */
export function sampleLink(options: PreviewOptions = {}): RenewalLink {
  return renewalLink(options.linkBaseUrl ?? SAMPLE_LINK_BASE, SAMPLE_LINK_TOKEN);
}

/** The facts of the sample reminder for `category`. */
export function sampleFacts(category: ReminderFacts['category'], options: PreviewOptions = {}): ReminderFacts {
  const today = options.today ?? localDate(options.timezone ?? 'Asia/Shanghai');
  return {
    holderName: SAMPLE_HOLDER_NAME,
    licenseNo: SAMPLE_LICENSE_NO,
    expiresOn: addDays(today, SAMPLE_DAYS_LEFT),
    daysLeft: SAMPLE_DAYS_LEFT,
    category,
  };
}

export function categoryPreview(category: ReminderFacts['category'], options: PreviewOptions = {}): CategoryPreview {
  const facts = sampleFacts(category, options);
  const link = sampleLink(options);
  const text = renderSms([facts], link);
  const length = smsSegments(text);
  const { title, body } = renderPush([facts], link);
  const warnings: string[] = [];
  if (length.segments > MAX_SMS_SEGMENTS_WITHOUT_WARNING) {
    warnings.push(
      `the SMS takes ${length.segments} segments (${length.units} ${length.encoding} characters, ` +
        `${length.perSegment} per segment); carriers bill each segment, and long messages are more often filtered`,
    );
  }
  let aliyun: TemplateSms | undefined;
  if (category.aliyunTemplateCode && category.aliyunTemplateParams) {
    // The digest's template code does not matter here: the sample has one licence.
    const rendered = renderTemplateSms([facts], link, '');
    if (rendered.ok) aliyun = rendered.sms;
    else warnings.push(`${rendered.message}: such a message fails (${rendered.code})`);
    // A message with several licences uses the digest, which sends the name and consultPhone as they are.
    for (const { field, message } of digestFieldProblems(category)) {
      warnings.push(`${field} ${message}: a message carrying several licences, this category's first, fails (${TEMPLATE_PARAM_TOO_LONG})`);
    }
  }
  return {
    sms: { text, characters: length.units, encoding: length.encoding, segments: length.segments },
    push: { title, body },
    ...(aliyun && { aliyun }),
    warnings,
  };
}

/** A category as the API returns one by itself: what is stored, and its preview. */
export function withPreview<C extends Category>(category: C, options: PreviewOptions = {}): C & { preview: CategoryPreview } {
  return { ...category, preview: categoryPreview(category, options) };
}
