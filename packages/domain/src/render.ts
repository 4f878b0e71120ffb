import type { BusinessDate, Category } from './types';

export const PLACEHOLDERS = [
  'holderName',
  'licenseName',
  'licenseNo',
  'expiresOn',
  'daysLeft',
  'renewalUrl',
  'consultPhone',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** What one reminder tells its licensee. */
export interface ReminderFacts {
  holderName: string;
  licenseNo: string;
  expiresOn: BusinessDate;
  daysLeft: number;
  category: Pick<Category, 'name' | 'smsTemplate' | 'pushTitle' | 'pushBody' | 'renewalUrl' | 'consultPhone'>;
}

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Placeholders a template uses that the contract does not know. */
export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(PLACEHOLDERS);
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !known.has(name));
}

function values(facts: ReminderFacts): Record<Placeholder, string> {
  return {
    holderName: facts.holderName,
    licenseName: facts.category.name,
    licenseNo: facts.licenseNo,
    expiresOn: facts.expiresOn,
    daysLeft: String(facts.daysLeft),
    renewalUrl: facts.category.renewalUrl,
    consultPhone: facts.category.consultPhone,
  };
}

export function renderTemplate(template: string, facts: ReminderFacts): string {
  const vars = values(facts);
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

function whereToRenew(all: ReminderFacts[]): string {
  const lines = all.map(({ category }) => `续证办理：${category.renewalUrl}，咨询电话：${category.consultPhone}`);
  return [...new Set(lines)].join('\n');
}

/**
 * One SMS per recipient and scan (docs/rules.md): a single reminder uses its category's
 * template; several are listed in one message, with each renewal link and
 * consultation phone given once.
 */
export function renderSms(all: ReminderFacts[]): string {
  const [first] = all;
  if (!first) throw new Error('renderSms needs at least one reminder');
  if (all.length === 1) return renderTemplate(first.category.smsTemplate, first);
  return `${signature(first)}${first.holderName}，您有${all.length}个证照即将到期：\n${listing(all)}\n${whereToRenew(all)}`;
}

export interface PushContent {
  title: string;
  body: string;
  url: string;
}

/** One push per recipient and scan, with the same rule as renderSms. */
export function renderPush(all: ReminderFacts[]): PushContent {
  const [first] = all;
  if (!first) throw new Error('renderPush needs at least one reminder');
  if (all.length === 1) {
    return {
      title: renderTemplate(first.category.pushTitle, first),
      body: renderTemplate(first.category.pushBody, first),
      url: first.category.renewalUrl,
    };
  }
  return {
    title: `您有${all.length}个证照即将到期`,
    body: `${listing(all)}\n${whereToRenew(all)}`,
    url: first.category.renewalUrl,
  };
}
