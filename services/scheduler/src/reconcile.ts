import { awaitingReceipt, recordReceipt, type AwaitingReceiptKey, type Database } from '@lr/db';
import { ProviderError } from '@lr/delivery';
import type { Logger } from '@lr/log';
import type { ReceiptLookUp } from '@lr/sms';

/**
 * How long an SMS is looked up for: carriers report within 72 hours, and an SMS with no
 * final status after that will not get one (it stays `sent`).
 */
export const LOOK_FOR_MINUTES = 3 * 24 * 60;
/** SMS looked up per upkeep round: a provider's look-ups are limited per second, and the round has other work. */
const PER_ROUND = 100;
/**
 * A pass that asked about SMS is followed by the next one at most this often: one still
 * waiting is asked again ten minutes later, not at every upkeep round (a minute), for the 72
 * hours it is looked up. After a pass that found none old enough, the next starts at once.
 */
export const PASS_EVERY_MINUTES = 10;

export interface ReconcileCounts {
  looked: number;
  delivered: number;
  undelivered: number;
  failed: number;
  /** still without a final status at the provider, or not found there */
  waiting: number;
}

export interface ReconcileOptions {
  db: Database;
  /** SMS_PROVIDER's look-up (providers.ts: receiptLookUp) */
  receipts: ReceiptLookUp;
  log: Logger;
  perRound?: number;
  /** a new pass starts at most this often [0: at once, as the tests ask] */
  passEveryMinutes?: number;
  now?: () => Date;
}

/**
 * The reconciliation of SMS left without a receipt (a push lost, the API away for longer
 * than the provider pushes again): each SMS still `sent` the provider's `afterMinutes`
 * (ALIYUN_SMS_RECONCILE_MINUTES) after it was sent is looked up at the provider. A final
 * status is recorded as a pushed receipt would be (forward only: a receipt that came
 * meanwhile wins); one still waiting is looked up again on the next pass. Each call looks at the next `perRound` SMS, in send order (an index of them by
 * sent_at, so those too old to look up are not read), and starts over once it has seen them
 * all, `passEveryMinutes` after the last pass that asked about any started. An error of the account (balance, credentials) or of the way there ends
 * the call: the next round tries again.
 */
export function receiptReconciler({
  db,
  receipts,
  log,
  perRound = PER_ROUND,
  passEveryMinutes = 0,
  now = () => new Date(),
}: ReconcileOptions): () => Promise<ReconcileCounts> {
  let after: AwaitingReceiptKey | null = null;
  let passStartedAt = Number.NEGATIVE_INFINITY;
  /** whether the pass under way (or the last one) asked the provider about any SMS */
  let passAsked = false;
  /** Whether a new pass may start now; if so, it has. A pass that asked nothing (none was old enough) is no reason to wait. */
  const startPass = () => {
    const at = now().getTime();
    if (passAsked && at - passStartedAt < passEveryMinutes * 60_000) return false;
    passStartedAt = at;
    passAsked = false;
    return true;
  };
  return async () => {
    const counts: ReconcileCounts = { looked: 0, delivered: 0, undelivered: 0, failed: 0, waiting: 0 };
    if (after === null && !startPass()) return counts;
    const next = () => awaitingReceipt(db, { minAgeMinutes: receipts.afterMinutes, maxAgeMinutes: LOOK_FOR_MINUTES, after, limit: perRound });
    let batch = await next();
    if (batch.length === 0 && after) {
      // The last pass ended exactly at a round's end: the next one starts, when it may.
      after = null;
      if (!startPass()) return counts;
      batch = await next();
    }
    const last = batch.at(-1);
    after = batch.length < perRound || !last ? null : { sentAt: last.sentAtKey, id: last.id };
    if (batch.length > 0) passAsked = true;
    for (const message of batch) {
      let found;
      try {
        found = await receipts.lookUp({ id: message.id, recipient: message.recipient, providerMessageId: message.providerMessageId!, sentAt: message.sentAt! });
      } catch (error) {
        if (error instanceof ProviderError && error.permanent) {
          // This SMS's look-up was refused: the others may still be answered.
          log.warn({ messageId: message.id, code: error.code }, `${receipts.provider} refused the look-up of an SMS without a receipt`);
          counts.waiting += 1;
          continue;
        }
        // The account or the way there: asking the rest now would fail alike. The pass broke
        // off having settled nothing, so it holds back no round: the next starts it over.
        after = null;
        passAsked = false;
        throw error;
      }
      counts.looked += 1;
      if (found === undefined) {
        counts.waiting += 1;
        continue;
      }
      await recordReceipt(db, message.providerMessageId!, found.receipt.status, found.receipt.error, found.at);
      counts[found.receipt.status] += 1;
    }
    if (counts.looked > 0) log.info({ ...counts }, `SMS without a receipt looked up at ${receipts.provider}`);
    return counts;
  };
}
