/**
 * The boundary between the service and an SMS provider. A provider is one module (twilio.ts,
 * aliyun/, log.ts) that knows its API and what its answers mean, and gives up to three
 * parts, each used by one service; providers.ts picks them by SMS_PROVIDER:
 *
 * - SmsSender (the SMS worker): sends one SMS, and looks for one a dead worker may have sent.
 * - ReceiptPush (the API): reads the receipts the provider pushes to a secret URL. Twilio's
 *   status callback is signed and answered per message, so it has a route of its own
 *   (services/api/src/routes/webhooks.ts); its status mapping is still twilio.ts's.
 * - ReceiptLookUp (the scheduler): asks how an SMS left without a receipt has ended.
 *
 * Each speaks in the service's terms only: a refusal is a ProviderError (permanent, retried,
 * held until a time, or the account paused), an outcome is an SmsReceipt.
 */
import type { Receipt } from '@lr/db';
import type { FoundSend } from '@lr/delivery';
import type { TemplateRendering } from '@lr/domain';
import type { TSchema } from '@sinclair/typebox';

/** How a sent SMS ended, as the ledger records it: the error is the provider's code and its meaning for the operator. */
export type SmsReceipt = NonNullable<Receipt>;

/** What a look-up asks an SMS provider: did you take this SMS since `since`? */
export interface SentSmsQuery {
  to: string;
  body: string;
  /** the outgoing message's id: a provider that keeps the sender's own id (Alibaba Cloud's OutId) matches by it */
  messageId: number;
  /** when the message was made (or its dead claim, if older): no try of it went out before; the claims that died may be several */
  since: Date;
}

/** What a sender may need of the message beyond its text: its id, and its template SMS where the channel renders one. */
export interface SmsToSend {
  messageId: number;
  /** with a provider that sends approved templates: the template and its variables, or why there is none */
  template?: TemplateRendering;
}

/** The SMS worker's part of a provider. */
export interface SmsSender {
  /** Resolves with the provider's id for the SMS; rejects with a ProviderError when the provider did not take it. */
  send(to: string, body: string, sms: SmsToSend): Promise<{ providerMessageId: string | null }>;
  /**
   * Looks before sending again (Channel.findSent): the SMS the provider took since `since`
   * that is this message, or null; rejects when the provider cannot say. Absent (the log
   * provider): nothing to look up, the message is sent again.
   */
  findSent?(query: SentSmsQuery): Promise<FoundSend | null>;
  /** Error codes that say the holder opted out of SMS (Twilio's STOP): the phone is suppressed until an operator clears it. */
  optOutCodes?: ReadonlySet<string>;
  /**
   * A provider that sends only approved templates (the mainland's): the template of a message
   * that carries several licences. The SMS channel then renders each message's template SMS,
   * from its category's template fields, and a category with the sms channel must have them.
   */
  digestTemplateCode?: string;
}

/** One receipt of a push, as the provider's intake reads it. */
export interface PushedReceipt {
  /**
   * The ids its SMS may be recorded under: first the provider's own; then any the send may be
   * recorded under when the provider gave none (Alibaba Cloud's outid:<message id>), which
   * match only a message to `phone`.
   */
  providerMessageIds: string[];
  /** our message id, when the provider gives it back (Alibaba Cloud's out_id) */
  messageId?: number;
  /** the phone, E.164, when the push names it */
  phone?: string;
  receipt: SmsReceipt;
}

/** The API's part of a provider that pushes its receipts, as JSON, to `path`/{token}. */
export interface ReceiptPush {
  /** the provider's name, as logs say it */
  provider: string;
  path: string;
  /** the secret last segment of the URL, all that authenticates a push; null when the provider is not in use (every push is refused) */
  token: string | null;
  /** the push's shape; a push that is not one is 400 */
  schema: TSchema;
  read(body: unknown): PushedReceipt[];
  /** the answer that tells the provider the push was taken (otherwise it pushes again) */
  taken: unknown;
}

/** An SMS sent without a receipt yet, as the reconciliation asks about it. */
export interface AwaitingSms {
  id: number;
  recipient: string;
  providerMessageId: string;
  sentAt: Date;
}

/** The scheduler's part of a provider whose receipts may be lost: it can be asked how an SMS ended. */
export interface ReceiptLookUp {
  provider: string;
  /** an SMS without a receipt this long after it was sent is looked up */
  afterMinutes: number;
  /**
   * How the SMS has ended at the provider, and when; undefined while it waits for its receipt
   * or is not listed. Rejects with a ProviderError: a permanent one refuses this SMS's
   * look-up only; any other (the account, the way there) would refuse the next ones alike.
   */
  lookUp(sms: AwaitingSms): Promise<{ receipt: SmsReceipt; at?: Date } | undefined>;
}
