import { randomUUID } from 'node:crypto';
import type { Channel } from '@lr/delivery';
import { smsCountSince, type Database } from '@lr/db';
import { localMidnight, maskPhone, nextLocalMidnight, renderSms } from '@lr/domain';
import type { Logger } from '@lr/log';
import type { SmsSender } from './twilio.sender';

export interface SmsLimits {
  db: Database;
  /** SMS_MAX_PER_RECIPIENT_PER_DAY: carriers block numbers that receive more */
  maxPerRecipientPerDay: number;
  timezone: string;
}

export function smsChannel(sender: SmsSender, limits: SmsLimits): Channel<{ body: string }> {
  return {
    name: 'sms',
    render: (reminders) => ({ body: renderSms(reminders) }),
    send: (message, { body }) => sender.send(message.recipient, body),
    // A phone that had its SMS for the (local) day gets the rest from the next day on.
    async holdUntil(message, now) {
      const sentToday = await smsCountSince(limits.db, message.recipient, localMidnight(limits.timezone, now), message.id);
      return sentToday >= limits.maxPerRecipientPerDay ? nextLocalMidnight(limits.timezone, now) : null;
    },
  };
}

/** SMS_PROVIDER=log: writes the message to the log (masked) and records it like a real send. */
export function logSender(log: Logger): SmsSender {
  return {
    async send(to, body) {
      const providerMessageId = `LOG${randomUUID().replaceAll('-', '')}`;
      log.info({ to: maskPhone(to), body, providerMessageId }, 'sms (log provider)');
      return { providerMessageId };
    },
  };
}
