import { randomUUID } from 'node:crypto';
import { batched, ProviderError, type Channel } from '@lr/delivery';
import { smsRecipientStates, suppressPhone, type Database, type SmsRecipientQuestion } from '@lr/db';
import { localMidnight, maskPhone, nextLocalMidnight, renderSms, renderTemplateSms, smsSegments, type TemplateRendering } from '@lr/domain';
import type { Logger } from '@lr/log';
import { UNSUBSCRIBED, type SmsSender } from './twilio.sender';

export interface SmsLimits {
  db: Database;
  /** SMS_MAX_PER_RECIPIENT_PER_DAY: carriers block numbers that receive more */
  maxPerRecipientPerDay: number;
  timezone: string;
  /**
   * A provider that sends approved templates (Alibaba Cloud): the digest's template code, for
   * a message with several licences. Each message then also renders its template SMS.
   */
  digestTemplateCode?: string;
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
    render(reminders, link) {
      const body = renderSms(reminders, link);
      const template = limits.digestTemplateCode === undefined ? undefined : renderTemplateSms(reminders, link, limits.digestTemplateCode);
      return { body, segments: smsSegments(body).segments, ...(template && { template }) };
    },
    async send(message, { body, template }) {
      try {
        return await sender.send(message.recipient, body, { messageId: message.id, ...(template && { template }) });
      } catch (error) {
        // The holder replied STOP: no more SMS to the phone until an operator clears it.
        if (error instanceof ProviderError && error.code === UNSUBSCRIBED) {
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
          message: `SMS to this phone are suppressed (Twilio ${state.suppressedFor}: the recipient unsubscribed) until an operator clears it`,
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

/**
 * SMS_PROVIDER=log: writes that the message went (the phone masked, its id and length) and
 * records it like a real send. Not its text: that names the holder, whose name no mask in the
 * log knows; the text is kept with the message (outgoing_messages.body) until the retention erases it.
 */
export function logSender(log: Logger): SmsSender {
  return {
    async send(to, body) {
      const providerMessageId = `LOG${randomUUID().replaceAll('-', '')}`;
      const { segments } = smsSegments(body);
      log.info({ to: maskPhone(to), providerMessageId, characters: Array.from(body).length, segments }, 'sms (log provider)');
      return { providerMessageId };
    },
  };
}
