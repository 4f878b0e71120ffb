import { AliyunSmsError, beijingTime, bizIdOf, mainlandNumber, receiptOfDetail, type AliyunSmsClient, type SendDetail } from '@lr/aliyun-sms';
import { CHINA_TIME_ZONE, localDate } from '@lr/domain';
import { awaitingReceipt, recordReceipt, type AwaitingReceiptKey, type Database } from '@lr/db';
import type { Logger } from '@lr/log';

/**
 * How long an SMS is looked up for: carriers report within 72 hours, and an SMS with no
 * final status after that will not get one (it stays `sent`). Alibaba Cloud keeps the
 * details of the last 30 days.
 */
const LOOK_FOR_MINUTES = 3 * 24 * 60;
/** SMS looked up per upkeep round: QuerySendDetails is limited per second, and the round has other work. */
const PER_ROUND = 100;
/** Our send time is recorded just after Alibaba Cloud's: an SMS recorded this soon after Beijing midnight may be listed on the day before. */
const RECORD_LAG_MS = 2 * 60_000;

export interface ReconcileCounts {
  looked: number;
  delivered: number;
  undelivered: number;
  /** still without a final status at Alibaba Cloud, or not found there */
  waiting: number;
}

export interface ReconcileOptions {
  db: Database;
  client: Pick<AliyunSmsClient, 'querySendDetails'>;
  /** ALIYUN_SMS_RECONCILE_MINUTES: an SMS without a receipt after this long is looked up */
  reconcileMinutes: number;
  log: Logger;
  perRound?: number;
}

/** The day Alibaba Cloud files an SMS under: Beijing's, YYYYMMDD. */
const beijingDay = (at: Date) => localDate(CHINA_TIME_ZONE, at).replaceAll('-', '');

/**
 * The reconciliation of SMS left without a receipt (a push lost, the API away for longer
 * than Alibaba Cloud pushes again): each SMS still `sent` ALIYUN_SMS_RECONCILE_MINUTES after
 * it was sent is looked up with QuerySendDetails, by its phone, day and BizId, and matched by
 * OutId (the message id). A final status is recorded as a pushed report would be (forward
 * only: a report that came meanwhile wins); one still waiting is looked up again on the next
 * pass. Each call looks at the next `perRound` SMS, in send order (an index of them by
 * sent_at, so those too old to look up are not read), and starts over once it has seen them
 * all. An error of the account (balance, credentials) or of the way there ends
 * the call: the next round tries again.
 */
export function receiptReconciler({ db, client, reconcileMinutes, log, perRound = PER_ROUND }: ReconcileOptions): () => Promise<ReconcileCounts> {
  let after: AwaitingReceiptKey | null = null;
  return async () => {
    const counts: ReconcileCounts = { looked: 0, delivered: 0, undelivered: 0, waiting: 0 };
    const next = () => awaitingReceipt(db, { minAgeMinutes: reconcileMinutes, maxAgeMinutes: LOOK_FOR_MINUTES, after, limit: perRound });
    let batch = await next();
    if (batch.length === 0 && after) {
      // The last pass ended exactly at a round's end: the next one starts now.
      after = null;
      batch = await next();
    }
    const last = batch.at(-1);
    after = batch.length < perRound || !last ? null : { sentAt: last.sentAtKey, id: last.id };
    for (const message of batch) {
      let detail: SendDetail | undefined;
      try {
        detail = await lookUp(client, { id: message.id, recipient: message.recipient, bizId: message.providerMessageId!, sentAt: message.sentAt! });
      } catch (error) {
        if (error instanceof AliyunSmsError && error.errorClass === 'permanent') {
          // This SMS's query was refused: the others may still be answered.
          log.warn({ messageId: message.id, code: error.code }, 'QuerySendDetails refused the look-up of an SMS without a receipt');
          counts.waiting += 1;
          continue;
        }
        // The account or the way there: asking the rest now would fail alike.
        after = null;
        throw error;
      }
      counts.looked += 1;
      const outcome = detail && receiptOfDetail(detail);
      if (detail === undefined || outcome === undefined) {
        counts.waiting += 1;
        continue;
      }
      await recordReceipt(db, message.providerMessageId!, outcome.status, outcome.error, beijingTime(detail.receiveDate));
      counts[outcome.status] += 1;
    }
    if (counts.looked > 0) log.info({ ...counts }, 'SMS without a receipt looked up at Alibaba Cloud');
    return counts;
  };
}

/** The SMS's entry at Alibaba Cloud, found by BizId and matched by OutId; undefined when it is not listed. */
async function lookUp(
  client: Pick<AliyunSmsClient, 'querySendDetails'>,
  message: { id: number; recipient: string; bizId: string; sentAt: Date },
): Promise<SendDetail | undefined> {
  const phone = mainlandNumber(message.recipient);
  const days = [beijingDay(message.sentAt)];
  const before = beijingDay(new Date(message.sentAt.getTime() - RECORD_LAG_MS));
  if (before !== days[0]) days.push(before);
  for (const sendDate of days) {
    // One recorded by its OutId (found before sending again) has no BizId to ask by: phone and day alone.
    const bizId = bizIdOf(message.bizId) ?? undefined;
    const { details } = await client.querySendDetails({ phone, sendDate, ...(bizId && { bizId }) });
    const found = details.find((d) => d.outId === String(message.id));
    if (found) return found;
  }
  return undefined;
}
