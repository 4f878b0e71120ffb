import { batched, ProviderError, type Channel } from '@lr/delivery';
import { smsRecipientStates, suppressPhone, type Database, type SmsRecipientQuestion } from '@lr/db';
import { localMidnight, nextLocalMidnight, renderSms, renderTemplateSms, smsSegments, type TemplateRendering } from '@lr/domain';
import type { SmsSender } from '@lr/sms';

export interface SmsLimits {
  db: Database;
  /** SMS_MAX_PER_RECIPIENT_PER_DAY: carriers block numbers that receive more */
  maxPerRecipientPerDay: number;
  timezone: string;
}

export interface SmsContent {
  /** the text as the category's smsTemplate renders it: kept with the message for the ledger and the inbox */
  body: string;
  segments: number;
  /** with a template provider: what goes to it */
  template?: TemplateRendering;
}

export function smsChannel(sender: SmsSender, limits: SmsLimits): Channel<SmsContent> {
  const { db } = limits;
  // Concurrent jobs ask for their phones' state in one statement.
  const recipientState = batched((questions: SmsRecipientQuestion[]) => smsRecipientStates(db, questions));
  return {
    name: 'sms',
    earlyReceipts: true,
    render(reminders, link) {
      const body = renderSms(reminders, link);
      // A provider that sends approved templates gets the message's template SMS too.
      const template = sender.digestTemplateCode === undefined ? undefined : renderTemplateSms(reminders, link, sender.digestTemplateCode);
      return { body, segments: smsSegments(body).segments, ...(template && { template }) };
    },
    async send(message, { body, template }) {
      try {
        return await sender.send(message.recipient, body, { messageId: message.id, ...(template && { template }) });
      } catch (error) {
        // The holder opted out (replied STOP): no more SMS to the phone until an operator clears it.
        if (error instanceof ProviderError && sender.optOutCodes?.has(error.code)) {
          await suppressPhone(db, { phone: message.recipient, errorCode: error.code, reason: error.message, messageId: message.id });
        }
        throw error;
      }
    },
    // The sender's look-up (none with the log provider): by phone and time, matched by the text or the message's id.
    findSent: sender.findSent && ((message, { body }, since) => sender.findSent!({ to: message.recipient, body, messageId: message.id, since })),
    async admit(message, now) {
      const state = await recipientState({ recipient: message.recipient, since: localMidnight(limits.timezone, now), messageId: message.id });
      if (state.suppressedFor !== null) {
        return {
          action: 'refuse',
          code: 'suppressed',
          message: `SMS to this phone are suppressed (the provider said ${state.suppressedFor}: the recipient opted out) until an operator clears it`,
        };
      }
      // A phone that had its SMS for the (local) day gets the rest from the next day on.
      if (state.sentSince >= limits.maxPerRecipientPerDay) {
        return { action: 'hold', until: nextLocalMidnight(limits.timezone, now), reason: 'recipient reached the daily cap' };
      }
      return { action: 'send' };
    },
  };
}
