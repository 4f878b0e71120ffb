import { randomUUID } from 'node:crypto';
import type { Channel } from '@lr/delivery';
import { maskPhone, renderSms } from '@lr/domain';
import type { Logger } from '@lr/log';
import type { SmsSender } from './twilio.sender';

export function smsChannel(sender: SmsSender): Channel<{ body: string }> {
  return {
    name: 'sms',
    render: (reminders) => ({ body: renderSms(reminders) }),
    send: (message, { body }) => sender.send(message.recipient, body),
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
