import { TWILIO_STATUS_PATH } from '@lr/config';
import { findMessageByProviderId, recordReceipt, type Database } from '@lr/db';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import twilio from 'twilio';
import { ApiError } from '../errors';

/** Twilio's callbacks are a few hundred bytes; anything much larger is not one. */
const WEBHOOK_BODY_LIMIT = 64 * 1024;

const FINAL: Record<string, 'delivered' | 'undelivered' | 'failed'> = {
  delivered: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
};

/**
 * Twilio status callbacks. The signature is checked against PUBLIC_BASE_URL + path
 * (Twilio signs the URL it was given, not the one we see behind a proxy). Receipts
 * move a message forward only, so a replayed or late callback changes nothing.
 */
export function twilioWebhookRoutes(db: Database, twilioAuth: { authToken: string; publicBaseUrl: string } | null): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      TWILIO_STATUS_PATH,
      {
        bodyLimit: WEBHOOK_BODY_LIMIT,
        schema: {
          tags: ['webhooks'],
          body: Type.Object(
            { MessageSid: Type.String({ minLength: 1, maxLength: 64 }), MessageStatus: Type.String({ maxLength: 32 }), ErrorCode: Type.Optional(Type.String({ maxLength: 16 })) },
            { additionalProperties: true },
          ),
        },
      },
      async (request, reply) => {
        const signature = request.headers['x-twilio-signature'];
        const params = request.body as Record<string, string>;
        if (
          !twilioAuth ||
          typeof signature !== 'string' ||
          !twilio.validateRequest(twilioAuth.authToken, signature, twilioAuth.publicBaseUrl + TWILIO_STATUS_PATH, params)
        ) {
          throw new ApiError(403, 'bad_signature', 'X-Twilio-Signature does not match');
        }
        const { MessageSid: sid, MessageStatus: status, ErrorCode: errorCode } = request.body;
        const message = await findMessageByProviderId(db, sid);
        if (!message) {
          request.log.warn({ sid, status }, 'status callback for an unknown MessageSid');
          throw new ApiError(404, 'unknown_message', `no message with MessageSid ${sid}`);
        }
        const to = FINAL[status];
        if (to) {
          const error = errorCode ? { code: errorCode, message: `Twilio error ${errorCode}` } : undefined;
          const moved = await recordReceipt(db, sid, to, error);
          request.log.info({ messageId: message.id, status, applied: moved !== undefined }, 'delivery receipt');
        }
        return reply.code(204).send();
      },
    );
  };
}
