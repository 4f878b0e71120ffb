import { writeInboxMessages, type Database, type NewInboxMessage } from '@lr/db';
import { batched, type Channel } from '@lr/delivery';
import { sendPush } from '@lr/jobs';
import { renderPush, type PushContent } from '@lr/domain';
import type { Logger } from '@lr/log';
import type { PushSender } from './gateway.sender';

/**
 * The inbox message is written before the gateway is called, so the licensee can
 * read it in the app even while the gateway is down; the idempotency key is the
 * same on every retry of one outgoing push. Concurrent jobs write their inbox messages in
 * one statement.
 */
export function pushChannel(db: Database, sender: PushSender): Channel<PushContent> {
  const writeInboxMessage = batched(async (messages: NewInboxMessage[]) => {
    await writeInboxMessages(db, messages);
    return messages.map(() => undefined);
  });
  return {
    name: 'push',
    render: renderPush,
    async send(message, content) {
      await writeInboxMessage({ messageId: message.id, platformUserId: message.recipient, ...content });
      return sender.send(message.recipient, content, sendPush.jobId({ messageId: message.id }));
    },
  };
}

/** PUSH_PROVIDER=log: writes the push to the log and records it like a real send. */
export function logSender(log: Logger): PushSender {
  return {
    async send(userId, content, idempotencyKey) {
      log.info({ userId, title: content.title, idempotencyKey }, 'push (log provider)');
      return { providerMessageId: idempotencyKey };
    },
  };
}
