import {
  cancelMessage,
  claimMessage,
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
}

export interface DeliveryDeps {
  db: Database;
  log: Logger;
  workerId: string;
}

export type DeliveryResult =
  | { outcome: 'sent'; providerMessageId: string | null }
  | { outcome: 'skipped' | 'cancelled' }
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
  const items = await messageItems(db, messageId);
  const stale = items.filter((i) => !i.stillDue);
  if (stale.length > 0) await dropDeliveries(db, messageId, stale.map((i) => i.deliveryId), 'no longer due');
  const due = items.filter((i) => i.stillDue);
  if (due.length === 0) {
    await cancelMessage(db, messageId, 'no reminder left to send');
    log.info({ messageId, channel: channel.name }, 'message cancelled: its licences were renewed, corrected or revoked');
    return { outcome: 'cancelled' };
  }
  const content = channel.render(due);
  try {
    const { providerMessageId } = await channel.send(message, content);
    await markSent(db, messageId, workerId, { providerMessageId, ...content });
    // The logger masks the recipient's phone.
    log.info({ messageId, channel: channel.name, recipient: message.recipient, providerMessageId, reminders: due.length }, 'message sent');
    return { outcome: 'sent', providerMessageId };
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
}
