import type { SmsReceipt } from '../provider';

/**
 * What Alibaba Cloud says of an SMS after it took it: a delivery report pushed to the API
 * (SmsReport) or a QuerySendDetails entry looked up by the scheduler. Beside errors.ts, which
 * says what its answers to a send mean.
 */

/**
 * What an Alibaba Cloud delivery report says of one SMS: `success` and the carrier's status
 * code (`err_code`, `DELIVERED` when it reached the phone) with Alibaba Cloud's note on it.
 */
export interface AliyunReport {
  success: boolean;
  errCode?: string | undefined;
  errMsg?: string | undefined;
}

/** How a report ends a sent message: delivered, or undelivered with the code and its meaning. */
export type ReceiptOutcome = SmsReceipt & { status: 'delivered' | 'undelivered' };

/**
 * The carriers' status codes an operator meets most, with what they mean for the holder.
 * Carriers (China Mobile, Unicom, Telecom) and their gateways each have their own codes;
 * those not listed here are shown with Alibaba Cloud's own note.
 */
const MEANINGS: Record<string, string> = {
  UNDELIV: "not delivered: the phone is suspended (停机), switched off for long, or the number is not in use; check the holder's phone",
  EXPIRED: 'not delivered in time: the phone stayed switched off or out of reach until the carrier gave up; it may reach a later reminder',
  REJECTD: "refused by the carrier (its content filter, the signature's filing, or the number's own block)",
  REJECT: "refused by the carrier (its content filter, the signature's filing, or the number's own block)",
  MBBLACK: 'the number is on the carrier’s blacklist (the holder complained or opted out of SMS)',
  DBBLACK: 'the number is on the carrier gateway’s blacklist (the holder complained or opted out of SMS)',
  BLACK: 'the number is on a carrier blacklist (the holder complained or opted out of SMS)',
  BLACKLIST: 'the number is on a carrier blacklist (the holder complained or opted out of SMS)',
  KEYWORD: "blocked by the carrier's keyword filter: check what the category's template variables carry",
  NOROUTE: 'the carrier found no route to the number (not in use, or unreachable)',
  UNKNOWN: 'the carrier gave no final status',
};

/**
 * Prefixes of the carriers' gateway codes (MK:0001, MN:0017, MI:0059, LT:0001…) that all
 * say the number itself could not take it.
 */
const NUMBER_PROBLEM = /^(MK|MN|MI|LT):?\d+$/;

/** Codes that say the SMS reached the phone; Alibaba Cloud sends DELIVERED, the carriers' own is DELIVRD. */
const DELIVERED = new Set(['DELIVERED', 'DELIVRD']);

/** What an error code of a report means, as the reminder's delivery shows it (errorMessage). */
export function reportErrorMessage(code: string, note: string | undefined): string {
  const meaning =
    MEANINGS[code.toUpperCase()] ??
    (NUMBER_PROBLEM.test(code) ? 'not delivered: the number is not in use, suspended, switched off or unreachable (carrier code)' : 'not delivered');
  const said = note?.trim();
  return `${meaning} (Alibaba Cloud ${code}${said ? `: ${said}` : ''})`;
}

/**
 * A report as a receipt: `success` decides; a report of failure keeps its code (or
 * `UNDELIV` when it has none) and its meaning.
 */
export function receiptOfReport(report: AliyunReport): ReceiptOutcome {
  const code = report.errCode?.trim() || undefined;
  if (report.success) return { status: 'delivered' };
  // A failure that names a delivered code is still a failure: `success` is the report's answer.
  const errorCode = code === undefined || DELIVERED.has(code.toUpperCase()) ? 'UNDELIV' : code;
  return { status: 'undelivered', error: { code: errorCode, message: reportErrorMessage(errorCode, report.errMsg) } };
}

/**
 * How an SMS that QuerySendDetails lists has ended, as its report would say it (SendStatus 3
 * delivered, 2 failed); undefined while it waits for its receipt (1).
 */
export function receiptOfDetail(detail: { sendStatus: number; errCode: string | null }): ReceiptOutcome | undefined {
  if (detail.sendStatus !== 2 && detail.sendStatus !== 3) return undefined;
  return receiptOfReport({ success: detail.sendStatus === 3, errCode: detail.errCode ?? undefined });
}
