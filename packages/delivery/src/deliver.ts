import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  abandonMessage,
  cancelMessage,
  claimMessages,
  deferMessage,
  type ClaimedMessage,
  dropDeliveries,
  findMessage,
  markFailed,
  markSentMany,
  releaseForRetry,
  type Database,
  type MessageItem,
  type OutgoingMessage,
  type SentMessage,
} from '@lr/db';
import { renewalLink, type ReminderFacts, type RenewalLink } from '@lr/domain';
import type { Logger } from '@lr/log';
import { batched } from './batch';
import { asProviderError } from './provider-error';

/** What is kept of a sent message: the ledger and the inbox show it. */
export interface SentContent {
  title?: string | null;
  body: string;
  url?: string | null;
  /** an SMS's segments, as the carrier bills it */
  segments?: number | null;
}

/** Whether a claimed message may go to its provider now. */
export type Admission =
  | { action: 'send' }
  /** not yet (a recipient's daily cap): back to the queue until then, untried */
  | { action: 'hold'; until: Date; reason: string }
  /** never (a suppressed phone): the message fails with this code, the provider uncalled */
  | { action: 'refuse'; code: string; message: string };

/** How one channel turns reminders into a message and hands it to its provider. */
export interface Channel<Content extends SentContent> {
  name: 'sms' | 'push';
  /** `link` is the message's own renewal link, the same on every try. */
  render(reminders: ReminderFacts[], link: RenewalLink): Content;
  /** Called with the claim held; returns the provider's id for the message. */
  send(message: OutgoingMessage, content: Content): Promise<{ providerMessageId: string | null }>;
  /** Called with the claim held, before anything is rendered; every message may go when absent. */
  admit?(message: OutgoingMessage, now: Date): Promise<Admission>;
}

export interface DeliveryDeps {
  db: Database;
  log: Logger;
  workerId: string;
  /** CLAIM_LEASE_SECONDS: a claim older than this lost its worker, and is taken over */
  claimLeaseSeconds: number;
  /** the most claims of one message (the job's attempts): one whose workers died that often is abandoned, not taken over */
  maxClaims: number;
  /** where renewal links point: the API's public address (Config.linkBaseUrl) */
  linkBaseUrl: string;
  now?: () => Date;
}

export type DeliveryResult =
  | { outcome: 'sent'; providerMessageId: string | null }
  | { outcome: 'skipped' | 'cancelled' }
  | { outcome: 'held'; until: Date }
  | { outcome: 'failed' | 'retry'; code: string; message: string };

/**
 * Sends outgoing messages, one per call. Each message is claimed in PostgreSQL before the
 * provider is called, and every later move is guarded by that claim, so a job that runs
 * twice does not send twice: the second run finds the message sent, or waits out the
 * claim's lease. Only a claim whose worker stopped between the provider's acceptance and
 * the record is sent again (README: what a crash may repeat).
 *
 * The claims, and the records of what was sent, of the calls under way share statements
 * (batched): a worker keeps one of these for all its jobs.
 */
export function messageDelivery<Content extends SentContent>(deps: DeliveryDeps, channel: Channel<Content>) {
  const lease = { leaseSeconds: deps.claimLeaseSeconds, maxClaims: deps.maxClaims };
  // A claim token of its own for each batch, so that a job run again in the same process
  // (BullMQ thought it stalled) cannot pass for the run that holds the claim.
  const claim = batched((messageIds: number[]) => claimMessages(deps.db, messageIds, `${deps.workerId}/${randomUUID().slice(0, 8)}`, lease));
  const recordSent = batched((sent: SentMessage[]) => markSentMany(deps.db, sent));
  return (messageId: number, lastAttempt: boolean) => deliver(deps, channel, { claim, recordSent }, messageId, lastAttempt);
}

/** One message on its own (tests, tools); a worker keeps one messageDelivery for all its jobs. */
export function deliverMessage<Content extends SentContent>(
  deps: DeliveryDeps,
  channel: Channel<Content>,
  messageId: number,
  lastAttempt: boolean,
): Promise<DeliveryResult> {
  return messageDelivery(deps, channel)(messageId, lastAttempt);
}

interface Statements {
  claim(messageId: number): Promise<ClaimedMessage | undefined>;
  recordSent(sent: SentMessage): Promise<OutgoingMessage | undefined>;
}

async function deliver<Content extends SentContent>(
  deps: DeliveryDeps,
  channel: Channel<Content>,
  statements: Statements,
  messageId: number,
  lastAttempt: boolean,
): Promise<DeliveryResult> {
  const { db, log } = deps;
  const claimed = await statements.claim(messageId);
  if (!claimed) return notClaimed(deps, channel.name, messageId);
  const { message, items } = claimed;
  // The claim's token: every later move of the message is guarded by it.
  const workerId = message.lockedBy!;
  let prepared: { reminders: number; content: Content };
  try {
    // A message whose licences were all renewed meanwhile is cancelled before it is admitted:
    // its ledger then says renewed, not held back by a daily cap or a suppression.
    if (!items.some((i) => i.stillDue)) {
      await cancelMessage(db, messageId, 'no reminder left to send');
      log.info({ messageId, channel: channel.name }, 'message cancelled: its licences were renewed, corrected or revoked');
      return { outcome: 'cancelled' };
    }
    const admission = (await channel.admit?.(message, deps.now?.() ?? new Date())) ?? { action: 'send' };
    if (admission.action === 'hold') {
      await deferMessage(db, messageId, workerId, admission.reason);
      log.info({ messageId, channel: channel.name, recipient: message.recipient, until: admission.until }, `held: ${admission.reason}`);
      return { outcome: 'held', until: admission.until };
    }
    if (admission.action === 'refuse') {
      const detail = { code: admission.code, message: admission.message };
      await markFailed(db, messageId, workerId, detail);
      log.warn({ messageId, channel: channel.name, recipient: message.recipient, ...detail }, 'message refused before sending');
      return { outcome: 'failed', ...detail };
    }
    prepared = await prepare(db, channel, message, items, renewalLink(deps.linkBaseUrl, message.linkToken));
  } catch (error) {
    // Nothing was sent: give the claim back so that the retry can take it.
    const detail = { code: 'PREPARE', message: error instanceof Error ? error.message : String(error) };
    await releaseForRetry(db, messageId, workerId, detail).catch(() => {});
    throw error;
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
  // Outside the try: should recording still fail after its tries in place, no job retry
  // sends the message at once; the claim holds until its lease ends, and the message is then
  // sent again, as after a worker killed here (README: what a crash may repeat).
  const recorded = await recordSent(deps, statements, { messageId, workerId, providerMessageId, ...prepared.content });
  if (!recorded) {
    // The claim outlived its lease mid-send and another worker took the message over: it
    // will be sent again.
    log.warn({ messageId, channel: channel.name, recipient: message.recipient, providerMessageId }, 'sent, but the claim had been taken over: the message goes out twice');
    return { outcome: 'sent', providerMessageId };
  }
  // The logger masks the recipient's phone.
  log.info({ messageId, channel: channel.name, recipient: message.recipient, providerMessageId, reminders: prepared.reminders }, 'message sent');
  return { outcome: 'sent', providerMessageId };
}

/**
 * A message the claim did not get: finished (sent, failed, cancelled), or being sent by
 * another worker. The job waits for that worker's lease to end: should the worker have
 * died mid-send, the job then takes the message over; else it finds it finished.
 */
async function notClaimed(deps: DeliveryDeps, channel: Channel<SentContent>['name'], messageId: number): Promise<DeliveryResult> {
  const message = await findMessage(deps.db, messageId);
  if (message?.status === 'sending' && message.attempts >= deps.maxClaims) {
    // Refused only while the last claim is alive; once it outlives its lease, given up.
    const abandoned = await abandonMessage(deps.db, messageId, deps.claimLeaseSeconds);
    if (abandoned) {
      deps.log.error({ messageId, channel, attempts: message.attempts }, 'message abandoned: its workers stopped mid-send on every claim');
      return { outcome: 'failed', code: abandoned.errorCode!, message: abandoned.errorMessage! };
    }
  }
  if (message?.status === 'sending' && message.lockedAt) {
    // The lease ends by the database's clock; a second at least, should this one run ahead.
    const until = new Date(Math.max(message.lockedAt.getTime() + deps.claimLeaseSeconds * 1000, Date.now()) + 1000);
    deps.log.info({ messageId, channel, claimedBy: message.lockedBy, until }, 'message is being sent by another worker; checking again when its claim ends');
    return { outcome: 'held', until };
  }
  deps.log.info({ messageId, channel, status: message?.status }, 'message not claimable (sent, failed or cancelled); skipped');
  return { outcome: 'skipped' };
}

/** Drops the reminders that are no longer due and renders the rest. */
async function prepare<Content extends SentContent>(
  db: Database,
  channel: Channel<Content>,
  message: OutgoingMessage,
  items: MessageItem[],
  link: RenewalLink,
) {
  const due = items.filter((i) => i.stillDue);
  const stale = items.filter((i) => !i.stillDue);
  if (stale.length > 0) await dropDeliveries(db, message.id, stale.map((i) => i.deliveryId), 'no longer due');
  return { reminders: due.length, content: channel.render(due, link) };
}

/** Waits between tries to record a send its provider took. */
const RECORD_RETRY_MS = [250, 1_000, 4_000];

/**
 * Records a send the provider took, trying again while the database fails (a restart, a
 * dropped connection): a send left unrecorded goes out a second time once its claim's lease
 * ends, so a passing error is worth waiting out here.
 */
async function recordSent(deps: DeliveryDeps, statements: Statements, sent: SentMessage): Promise<OutgoingMessage | undefined> {
  for (const waitMs of RECORD_RETRY_MS) {
    try {
      return await statements.recordSent(sent);
    } catch (error) {
      deps.log.warn({ err: error, messageId: sent.messageId, retryInMs: waitMs }, 'could not record a send the provider took; trying again');
      await sleep(waitMs);
    }
  }
  return statements.recordSent(sent);
}
