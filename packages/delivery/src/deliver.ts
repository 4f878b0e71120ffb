import {
  cancelMessage,
  claimMessage,
  deferMessage,
  dropDeliveries,
  markFailed,
  markSent,
  messageItems,
  releaseForRetry,
  type Database,
  type OutgoingMessage,
} from '@lr/db';
import type { ReminderFacts } from '@lr/domain';
import type { Logger } from '@lr/log';
import { asProviderError } from './provider-error';

/** What is kept of a sent message: the ledger and the inbox show it. */
export interface SentContent {
  title?: string | null;
  body: string;
  url?: string | null;
}

/** How one channel turns reminders into a message and hands it to its provider. */
export interface Channel<Content extends SentContent> {
  name: 'sms' | 'push';
  render(reminders: ReminderFacts[]): Content;
  /** Called with the claim held; returns the provider's id for the message. */
  send(message: OutgoingMessage, content: Content): Promise<{ providerMessageId: string | null }>;
  /** When the message may not leave yet (a recipient's daily cap): the instant it may. */
  holdUntil?(message: OutgoingMessage, now: Date): Promise<Date | null>;
}

export interface DeliveryDeps {
  db: Database;
  log: Logger;
  workerId: string;
  now?: () => Date;
}

export type DeliveryResult =
  | { outcome: 'sent'; providerMessageId: string | null }
  | { outcome: 'skipped' | 'cancelled' }
  | { outcome: 'held'; until: Date }
  | { outcome: 'failed' | 'retry'; code: string; message: string };

/**
 * Sends one outgoing message, at most once: the message is claimed in PostgreSQL
 * before the provider is called, and every later move is guarded by that claim, so a
 * job that runs twice finds nothing to claim the second time.
 */
export async function deliverMessage<Content extends SentContent>(
  deps: DeliveryDeps,
  channel: Channel<Content>,
  messageId: number,
  lastAttempt: boolean,
): Promise<DeliveryResult> {
  const { db, log, workerId } = deps;
  const message = await claimMessage(db, messageId, workerId);
  if (!message) {
    log.info({ messageId, channel: channel.name }, 'message not claimable (sent, cancelled or taken); skipped');
    return { outcome: 'skipped' };
  }
  let prepared: { reminders: number; content: Content } | 'nothing left';
  try {
    const until = await channel.holdUntil?.(message, deps.now?.() ?? new Date());
    if (until) {
      await deferMessage(db, messageId, workerId, 'recipient reached the daily cap');
      log.info({ messageId, channel: channel.name, recipient: message.recipient, until }, 'held until the next day');
      return { outcome: 'held', until };
    }
    prepared = await prepare(db, channel, messageId);
  } catch (error) {
    // Nothing was sent: give the claim back so that the retry can take it.
    const detail = { code: 'PREPARE', message: error instanceof Error ? error.message : String(error) };
    await releaseForRetry(db, messageId, workerId, detail).catch(() => {});
    throw error;
  }
  if (prepared === 'nothing left') {
    log.info({ messageId, channel: channel.name }, 'message cancelled: its licences were renewed, corrected or revoked');
    return { outcome: 'cancelled' };
  }

  let providerMessageId: string | null;
  try {
    ({ providerMessageId } = await channel.send(message, prepared.content));
  } catch (thrown) {
    const error = asProviderError(thrown);
    const detail = { code: error.code, message: error.message };
    if (error.permanent || lastAttempt) {
      await markFailed(db, messageId, workerId, detail);
      log.warn({ messageId, channel: channel.name, recipient: message.recipient, ...detail, permanent: error.permanent }, 'message failed');
      return { outcome: 'failed', ...detail };
    }
    await releaseForRetry(db, messageId, workerId, detail);
    log.warn({ messageId, channel: channel.name, ...detail }, 'transient provider error; will retry');
    return { outcome: 'retry', ...detail };
  }
  // Outside the try: should recording fail after the provider took the message, the
  // claim stays and no retry sends it again (at most once, never twice).
  await markSent(db, messageId, workerId, { providerMessageId, ...prepared.content });
  // The logger masks the recipient's phone.
  log.info({ messageId, channel: channel.name, recipient: message.recipient, providerMessageId, reminders: prepared.reminders }, 'message sent');
  return { outcome: 'sent', providerMessageId };
}

/** Drops the reminders that are no longer due and renders the rest; cancels a message left empty. */
async function prepare<Content extends SentContent>(db: Database, channel: Channel<Content>, messageId: number) {
  const items = await messageItems(db, messageId);
  const due = items.filter((i) => i.stillDue);
  if (due.length === 0) {
    await cancelMessage(db, messageId, 'no reminder left to send');
    return 'nothing left' as const;
  }
  const stale = items.filter((i) => !i.stillDue);
  if (stale.length > 0) await dropDeliveries(db, messageId, stale.map((i) => i.deliveryId), 'no longer due');
  return { reminders: due.length, content: channel.render(due) };
}
