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
  recordReceipt,
  releaseForRetry,
  type Database,
  type MessageItem,
  type OutgoingMessage,
  type Receipt,
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

/** A send the provider already had when its worker died before recording it: what a look-up found. */
export interface FoundSend {
  providerMessageId: string;
  /** how it ended, when the provider knows already: applied as its receipt would be */
  receipt?: NonNullable<Receipt>;
}

/** How one channel turns reminders into a message and hands it to its provider. */
export interface Channel<Content extends SentContent> {
  name: 'sms' | 'push';
  /** `link` is the message's own renewal link, the same on every try. */
  render(reminders: ReminderFacts[], link: RenewalLink): Content;
  /** Called with the claim held; returns the provider's id for the message. */
  send(message: OutgoingMessage, content: Content): Promise<{ providerMessageId: string | null }>;
  /** Called with the claim held, before anything is rendered; every message may go when absent. */
  admit?(message: OutgoingMessage, now: Date): Promise<Admission>;
  /**
   * Looks before sending again: asks the provider whether it took this message (`content`, to
   * its recipient) since `since`, when a worker that claimed it then died mid-send. Resolves
   * with the send found, or null; rejects when the provider could not be asked. Called with
   * the claim held. Absent (nothing to look up: a log provider, or a provider that drops a
   * repeated message itself): the message is sent again.
   */
  findSent?(message: OutgoingMessage, content: Content, since: Date): Promise<FoundSend | null>;
  /**
   * Whether the provider's receipts may come before the send is recorded (receiptBeforeSend):
   * the record then takes the receipts' locks and applies those kept. An SMS's may; a push has
   * no receipts, and its record takes no lock.
   */
  earlyReceipts?: boolean;
}

export interface DeliveryDeps {
  db: Database;
  log: Logger;
  /** the worker's own name: each batch of claims takes a token of its own that begins with it */
  workerId: string;
  /** CLAIM_LEASE_SECONDS: a claim older than this lost its worker, and is taken over */
  claimLeaseSeconds: number;
  /** the most claims of one message (the job's attempts): one whose workers died that often is abandoned, not taken over */
  maxClaims: number;
  /** where renewal links point: the API's public address (Config.linkBaseUrl) */
  linkBaseUrl: string;
  /** the worker's clock (tests set it): the channel's admission, and the job's quiet hours and pauses */
  now?: () => Date;
}

export type DeliveryResult =
  | { outcome: 'sent'; providerMessageId: string | null }
  | { outcome: 'skipped' | 'cancelled' }
  | { outcome: 'held'; until: Date }
  | { outcome: 'failed' | 'retry'; code: string; message: string }
  /** the provider's account cannot send: the message went back untried; the worker pauses the queue */
  | { outcome: 'paused'; code: string; message: string };

/**
 * Sends outgoing messages, one per call. Each message is claimed in PostgreSQL before the
 * provider is called, and every later move is guarded by that claim, so a job that runs
 * twice does not send twice: the second run finds the message sent, or waits out the
 * claim's lease. A claim whose worker stopped mid-send is taken over once its lease ends; the
 * provider is then asked first whether it took the message (Channel.findSent), and only what
 * it did not take, or could not say, is sent again (README: what a crash may repeat).
 *
 * The claims, and the records of what was sent, of the calls under way share statements
 * (batched): a worker keeps one of these for all its jobs.
 */
export function messageDelivery<Content extends SentContent>(deps: DeliveryDeps, channel: Channel<Content>) {
  const lease = { leaseSeconds: deps.claimLeaseSeconds, maxClaims: deps.maxClaims };
  // A claim token (locked_by) of its own for each batch, so that a job run again in the same
  // process (BullMQ thought it stalled) cannot pass for the run that holds the claim.
  const claimInBatch = batched((messageIds: number[]) => claimMessages(deps.db, messageIds, `${deps.workerId}/${randomUUID().slice(0, 8)}`, lease));
  const recordSentInBatch = batched((sent: SentMessage[]) => markSentMany(deps.db, sent, { earlyReceipts: channel.earlyReceipts === true }));
  return (messageId: number, lastAttempt: boolean) => deliver(deps, channel, { claimInBatch, recordSentInBatch }, messageId, lastAttempt);
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

/**
 * The statements a worker's jobs share (batched): a call joins the next batch of its statement
 * and gets its own message's answer.
 */
interface SharedStatements {
  claimInBatch(messageId: number): Promise<ClaimedMessage | undefined>;
  recordSentInBatch(sent: SentMessage): Promise<OutgoingMessage | undefined>;
}

async function deliver<Content extends SentContent>(
  deps: DeliveryDeps,
  channel: Channel<Content>,
  shared: SharedStatements,
  messageId: number,
  lastAttempt: boolean,
): Promise<DeliveryResult> {
  const { db, log } = deps;
  const claimed = await shared.claimInBatch(messageId);
  if (!claimed) return notClaimed(deps, channel.name, messageId);
  const { message, items, takenOverFrom } = claimed;
  // The claim's token: every later move of the message is guarded by it.
  const lockedBy = message.lockedBy!;
  let prepared: Prepared<Content>;
  let found: FoundSend | null = null;
  try {
    // A message whose licences were all renewed meanwhile is cancelled before it is admitted:
    // its ledger then says renewed, not held back by a daily cap or a suppression.
    if (!items.some((i) => i.stillDue)) {
      await cancelMessage(db, messageId, 'no reminder left to send', lockedBy);
      log.info({ messageId, channel: channel.name }, 'message cancelled: its licences were renewed, corrected or revoked');
      return { outcome: 'cancelled' };
    }
    const link = renewalLink(deps.linkBaseUrl, message.linkToken);
    if (takenOverFrom && channel.findSent) {
      // Its worker died mid-send, maybe after the provider took it: look before sending again
      // (and before the daily cap, which would hold back a message that went out).
      prepared = await prepare(db, channel, message, items, link);
      // From the message's making (or the dead claim, were it older), not from the dead claim
      // alone: the claim before it may have died too (mid look-up), and its send would be
      // missed. Few SMS go to one phone.
      const since = new Date(Math.min(message.createdAt.getTime(), takenOverFrom.getTime()));
      found = await lookUp(deps, channel, message, prepared.content, since);
      const held = found ? undefined : await admit(deps, channel, message, lockedBy);
      if (held) return held;
    } else {
      const held = await admit(deps, channel, message, lockedBy);
      if (held) return held;
      prepared = await prepare(db, channel, message, items, link);
    }
  } catch (error) {
    // Nothing was sent: give the claim back so that the retry can take it.
    const detail = { code: 'PREPARE', message: error instanceof Error ? error.message : String(error) };
    await releaseForRetry(db, messageId, lockedBy, detail).catch(() => {});
    throw error;
  }
  // Outside the try, as a send's record below.
  if (found) return recordFound(deps, shared, channel.name, message, lockedBy, prepared, found);

  let providerMessageId: string | null;
  try {
    ({ providerMessageId } = await channel.send(message, prepared.content));
  } catch (thrown) {
    const error = asProviderError(thrown);
    const detail = { code: error.code, message: error.message };
    if (error.wait && 'hold' in error.wait) {
      await deferMessage(db, messageId, lockedBy, `provider limit ${error.code}`, detail);
      log.info({ messageId, channel: channel.name, recipient: message.recipient, ...detail, until: error.wait.hold }, 'held by the provider: tried again later');
      return { outcome: 'held', until: error.wait.hold };
    }
    if (error.wait) {
      // Not the message's fault: it fails nothing and waits, untried, until the account works.
      await deferMessage(db, messageId, lockedBy, `provider account cannot send (${error.code})`, detail);
      return { outcome: 'paused', ...detail };
    }
    if (error.permanent || lastAttempt) {
      await markFailed(db, messageId, lockedBy, detail);
      log.warn({ messageId, channel: channel.name, recipient: message.recipient, ...detail, permanent: error.permanent }, 'message failed');
      return { outcome: 'failed', ...detail };
    }
    await releaseForRetry(db, messageId, lockedBy, detail);
    log.warn({ messageId, channel: channel.name, ...detail }, 'transient provider error; will retry');
    return { outcome: 'retry', ...detail };
  }
  // Outside the try: should recording still fail after its tries in place, no job retry
  // sends the message at once; the claim holds until its lease ends, and the message is then
  // sent again, as after a worker killed here (README: what a crash may repeat).
  const recorded = await recordSent(deps, shared, { messageId, lockedBy, providerMessageId, ...prepared.content });
  if (!recorded) {
    // The claim outlived its lease mid-send and another worker took the message over: that
    // worker looks for this send at the provider (Channel.findSent), or sends it again.
    log.warn({ messageId, channel: channel.name, recipient: message.recipient, providerMessageId }, 'sent, but the claim had been taken over: the worker that holds it now may send it again');
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

/** The channel's admission (Channel.admit): undefined when the message may go now, else what became of it. */
async function admit<Content extends SentContent>(
  deps: DeliveryDeps,
  channel: Channel<Content>,
  message: OutgoingMessage,
  lockedBy: string,
): Promise<DeliveryResult | undefined> {
  const admission = (await channel.admit?.(message, deps.now?.() ?? new Date())) ?? { action: 'send' };
  const about = { messageId: message.id, channel: channel.name, recipient: message.recipient };
  if (admission.action === 'hold') {
    await deferMessage(deps.db, message.id, lockedBy, admission.reason);
    deps.log.info({ ...about, until: admission.until }, `held: ${admission.reason}`);
    return { outcome: 'held', until: admission.until };
  }
  if (admission.action === 'refuse') {
    const detail = { code: admission.code, message: admission.message };
    await markFailed(deps.db, message.id, lockedBy, detail);
    deps.log.warn({ ...about, ...detail }, 'message refused before sending');
    return { outcome: 'failed', ...detail };
  }
  return undefined;
}

/**
 * Asks the provider whether a dead worker's send of the message went out (Channel.findSent).
 * A provider that cannot say counts as "not found": the message is sent again, since a
 * reminder sent twice costs less than one never sent.
 */
async function lookUp<Content extends SentContent>(
  deps: DeliveryDeps,
  channel: Channel<Content>,
  message: OutgoingMessage,
  content: Content,
  since: Date,
): Promise<FoundSend | null> {
  const about = { messageId: message.id, channel: channel.name, recipient: message.recipient, since };
  try {
    const found = await channel.findSent!(message, content, since);
    if (!found) deps.log.info(about, 'its worker died mid-send, and the provider has no such message since: sending it again');
    return found;
  } catch (error) {
    deps.log.warn({ ...about, err: error }, 'its worker died mid-send, and the provider could not be asked whether it took the message: sending it again');
    return null;
  }
}

/** Records as sent, with the provider's id (and how it ended, if known), a message a look-up found: it is not sent again. */
async function recordFound<Content extends SentContent>(
  deps: DeliveryDeps,
  shared: SharedStatements,
  channel: Channel<Content>['name'],
  message: OutgoingMessage,
  lockedBy: string,
  prepared: Prepared<Content>,
  found: FoundSend,
): Promise<DeliveryResult> {
  const { providerMessageId, receipt } = found;
  const about = { messageId: message.id, channel, recipient: message.recipient, providerMessageId };
  const recorded = await recordSent(deps, shared, { messageId: message.id, lockedBy, providerMessageId, ...prepared.content });
  if (!recorded) {
    deps.log.warn(about, 'found at the provider, but the claim had been taken over meanwhile');
    return { outcome: 'sent', providerMessageId };
  }
  if (receipt) {
    // Its status callback says it too, kept and applied by the record if it came already;
    // this spares the wait for one still to come.
    await recordReceipt(deps.db, providerMessageId, receipt.status, receipt.error).catch((error: unknown) => {
      deps.log.warn({ ...about, err: error }, 'could not record how the message found at the provider ended; its status callback will');
    });
  }
  deps.log.info({ ...about, status: receipt?.status ?? 'sent', reminders: prepared.reminders }, 'its worker died mid-send after the provider took it: recorded as sent, not sent again');
  return { outcome: 'sent', providerMessageId };
}

/** A message's due reminders (how many) and its content, rendered. */
interface Prepared<Content> {
  reminders: number;
  content: Content;
}

/** Drops the reminders that are no longer due and renders the rest. */
async function prepare<Content extends SentContent>(
  db: Database,
  channel: Channel<Content>,
  message: OutgoingMessage,
  items: MessageItem[],
  link: RenewalLink,
): Promise<Prepared<Content>> {
  const due = items.filter((i) => i.stillDue);
  const stale = items.filter((i) => !i.stillDue);
  if (stale.length > 0) await dropDeliveries(db, message.id, message.lockedBy!, stale.map((i) => i.deliveryId), 'no longer due');
  return { reminders: due.length, content: channel.render(due, link) };
}

/** Waits between tries to record a send its provider took. */
const RECORD_RETRY_MS = [250, 1_000, 4_000];

/**
 * Records a send the provider took, trying again while the database fails (a restart, a
 * dropped connection): a send left unrecorded goes out a second time once its claim's lease
 * ends, so a passing error is worth waiting out here.
 */
async function recordSent(deps: DeliveryDeps, shared: SharedStatements, sent: SentMessage): Promise<OutgoingMessage | undefined> {
  for (const waitMs of RECORD_RETRY_MS) {
    try {
      return await shared.recordSentInBatch(sent);
    } catch (error) {
      deps.log.warn({ err: error, messageId: sent.messageId, retryInMs: waitMs }, 'could not record a send the provider took; trying again');
      await sleep(waitMs);
    }
  }
  return shared.recordSentInBatch(sent);
}
