import { withLicenseNo, type RenewalLink } from './renewal-link';
import type { BusinessDate, Category } from './types';

export const PLACEHOLDERS = [
  'holderName',
  'licenseName',
  'licenseNo',
  'expiresOn',
  'daysLeft',
  'renewalUrl',
  'consultPhone',
  'renewalLink',
  'renewalToken',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** What one reminder tells its licensee. */
export interface ReminderFacts {
  holderName: string;
  licenseNo: string;
  expiresOn: BusinessDate;
  daysLeft: number;
  category: Pick<Category, 'name' | 'smsTemplate' | 'pushTitle' | 'pushBody' | 'renewalUrl' | 'consultPhone' | 'aliyunTemplateCode' | 'aliyunTemplateParams'>;
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Placeholders a template uses that the contract does not know. */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(PLACEHOLDERS);
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !known.has(name));
}

function values(facts: ReminderFacts, link: RenewalLink): Record<Placeholder, string> {
  return {
    holderName: facts.holderName,
    licenseName: facts.category.name,
    licenseNo: facts.licenseNo,
    expiresOn: facts.expiresOn,
    daysLeft: String(facts.daysLeft),
    renewalUrl: withLicenseNo(facts.category.renewalUrl, facts.licenseNo),
    consultPhone: facts.category.consultPhone,
    renewalLink: link.url,
    renewalToken: link.token,
  };
}

/** A template filled in for one reminder of the message whose renewal link is `link`. */
export function renderTemplate(template: string, facts: ReminderFacts, link: RenewalLink): string {
  const vars = values(facts, link);
  return template.replace(PLACEHOLDER, (whole, name: string) => (name in vars ? vars[name as Placeholder] : whole));
}

function signature(facts: ReminderFacts): string {
  return /^【[^】]+】/.exec(facts.category.smsTemplate)?.[0] ?? '';
}

function listing(all: ReminderFacts[]): string {
  return all
    .map((f, i) => `${i + 1}. ${f.category.name}（${f.licenseNo}）${f.expiresOn}到期，剩${f.daysLeft}天`)
    .join('\n');
}

/**
 * The message's one renewal link, whose page leads to each licence's own renewal: shorter than
 * a link per category. A space ends the link: some phones take the characters after it for part of it.
 */
function whereToRenew(all: ReminderFacts[], link: RenewalLink): string {
  const phones = [...new Set(all.map(({ category }) => category.consultPhone))];
  return `续证办理：${link.url} 咨询电话：${phones.join('、')}`;
}

/**
 * One SMS per recipient and scan (docs/rules.md): a single reminder uses its category's
 * template; several are listed in one message, with the message's renewal link and each
 * consultation phone given once.
 */
export function renderSms(all: ReminderFacts[], link: RenewalLink): string {
  const [first] = all;
  if (!first) throw new Error('renderSms needs at least one reminder');
  if (all.length === 1) return renderTemplate(first.category.smsTemplate, first, link);
  return `${signature(first)}${first.holderName}，您有${all.length}个证照即将到期：\n${listing(all)}\n${whereToRenew(all, link)}`;
}

export interface PushContent {
  title: string;
  body: string;
  url: string;
}

/** One push per recipient and scan, with the same rule as renderSms; a tap opens the message's renewal link. */
export function renderPush(all: ReminderFacts[], link: RenewalLink): PushContent {
  const [first] = all;
  if (!first) throw new Error('renderPush needs at least one reminder');
  if (all.length === 1) {
    return {
      title: renderTemplate(first.category.pushTitle, first, link),
      body: renderTemplate(first.category.pushBody, first, link),
      url: link.url,
    };
  }
  return {
    title: `您有${all.length}个证照即将到期`,
    body: `${listing(all)}\n${whereToRenew(all, link)}`,
    url: link.url,
  };
}
