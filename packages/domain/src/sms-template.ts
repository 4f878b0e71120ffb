/**
 * SMS that carriers take only as an approved template plus variables (Alibaba Cloud SMS, and
 * the next domestic provider alike): the category maps each of its template's variables to
 * one of our templates; a message with several licences uses the digest template, whose
 * variables are fixed. docs/aliyun.md.
 */
import { renderTemplate, unknownPlaceholders, type ReminderFacts } from './render';
import type { RenewalLink } from './renewal-link';

/** A category's approved template: its code (`SMS_` and digits) and its variables, each one of our templates. */
export interface SmsTemplateFields {
  aliyunTemplateCode?: string | null;
  aliyunTemplateParams?: Record<string, string> | null;
}

export const ALIYUN_TEMPLATE_CODE = /^SMS_\d{1,20}$/;
/** A variable's name as Alibaba Cloud takes it in a template (${name}). */
export const TEMPLATE_VARIABLE = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
/** The most characters Alibaba Cloud takes in one variable of a notification template. */
export const MAX_TEMPLATE_PARAM_CHARS = 35;
/** The code a message fails with when a variable would not be sent whole. */
export const TEMPLATE_PARAM_TOO_LONG = 'template_param_too_long';
/** The code a message fails with when its category has no approved template to send it with. */
export const TEMPLATE_MISSING = 'sms_template_missing';

/** The digest's variables (ALIYUN_SMS_DIGEST_TEMPLATE_CODE), each one of our templates or a figure. */
export const DIGEST_VARIABLES = ['count', 'first', 'date', 'token', 'tel'] as const;

/** An SMS as a template provider takes it. */
export interface TemplateSms {
  templateCode: string;
  templateParam: Record<string, string>;
}

/** What rendering gave: the SMS, or why the message cannot be sent (its failure code and message). */
export type TemplateRendering = { ok: true; sms: TemplateSms } | { ok: false; code: string; message: string };

/**
 * Placeholders that are links: carriers refuse a variable carrying a link, so the approved
 * template holds the link's fixed part and `{renewalToken}` is its variable (docs/aliyun.md).
 */
export const LINK_PLACEHOLDERS: readonly string[] = ['renewalLink', 'renewalUrl'];

/** Problems with a category's template fields, by field, before it is saved. */
export function templateFieldProblems(fields: SmsTemplateFields): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  for (const [name, template] of Object.entries(fields.aliyunTemplateParams ?? {})) {
    if (!TEMPLATE_VARIABLE.test(name)) problems.push({ field: 'aliyunTemplateParams', message: `"${name}" is not a template variable name (a letter, then letters, digits or _)` });
    for (const unknown of unknownPlaceholders(template)) problems.push({ field: 'aliyunTemplateParams', message: `${name}: unknown placeholder {${unknown}}` });
    for (const link of LINK_PLACEHOLDERS.filter((p) => template.includes(`{${p}}`))) {
      problems.push({ field: 'aliyunTemplateParams', message: `${name}: {${link}} is a link, which a template variable may not carry (the template holds the link's fixed part; use {renewalToken})` });
    }
  }
  return problems;
}

/**
 * The category's fields that the digest sends as they are (`first` its name, `tel` its
 * consultPhone), each of which must fit a variable: one over 35 characters would fail every
 * digest SMS whose first licence is of this category with template_param_too_long.
 */
export function digestFieldProblems(category: { name: string; consultPhone: string }): { field: 'name' | 'consultPhone'; message: string }[] {
  const sentAs = [
    ['name', 'first'],
    ['consultPhone', 'tel'],
  ] as const;
  return sentAs.flatMap(([field, variable]) => {
    const length = Array.from(category[field]).length;
    return length > MAX_TEMPLATE_PARAM_CHARS
      ? [{ field, message: `has ${length} characters; the digest template sends it as its variable "${variable}", which takes at most ${MAX_TEMPLATE_PARAM_CHARS}` }]
      : [];
  });
}

/** Each value as it will be sent, or the first that would not be sent whole. */
function checked(templateCode: string, params: Record<string, string>): TemplateRendering {
  for (const [name, value] of Object.entries(params)) {
    const length = Array.from(value).length;
    if (length === 0 || length > MAX_TEMPLATE_PARAM_CHARS) {
      return {
        ok: false,
        code: TEMPLATE_PARAM_TOO_LONG,
        message: `template ${templateCode}: variable "${name}" has ${length} characters; each must have 1 to ${MAX_TEMPLATE_PARAM_CHARS}, and none is cut`,
      };
    }
  }
  return { ok: true, sms: { templateCode, templateParam: params } };
}

/**
 * The template SMS of a message: one reminder uses its category's template and variables;
 * several use the digest template (count, the first licence's name, the earliest date, the
 * message's token, the first licence's consultation phone). Reminders are in expiry order.
 */
export function renderTemplateSms(all: ReminderFacts[], link: RenewalLink, digestTemplateCode: string): TemplateRendering {
  const [first] = all;
  if (!first) throw new Error('renderTemplateSms needs at least one reminder');
  if (all.length > 1) {
    const earliest = all.map((f) => f.expiresOn).sort()[0]!;
    const digest: Record<(typeof DIGEST_VARIABLES)[number], string> = {
      count: String(all.length),
      first: first.category.name,
      date: earliest,
      token: link.token,
      tel: first.category.consultPhone,
    };
    return checked(digestTemplateCode, digest);
  }
  const { aliyunTemplateCode: code, aliyunTemplateParams: params } = first.category;
  if (!code || !params) {
    return { ok: false, code: TEMPLATE_MISSING, message: `category has no aliyunTemplateCode and aliyunTemplateParams: its SMS cannot be sent through a template provider` };
  }
  return checked(code, Object.fromEntries(Object.entries(params).map(([name, template]) => [name, renderTemplate(template, first, link)])));
}
