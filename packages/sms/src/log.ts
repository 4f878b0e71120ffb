import { randomUUID } from 'node:crypto';
import { maskPhone, smsSegments } from '@lr/domain';
import type { Logger } from '@lr/log';
import type { SmsSender } from './provider';

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
