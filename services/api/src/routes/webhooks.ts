import { TWILIO_STATUS_PATH } from '@lr/config';
import { applyReceipt, type Database } from '@lr/db';
import { twilioReceipt } from '@lr/sms';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import twilio from 'twilio';
import { ApiError } from '../errors';

/** A provider's callback or push of receipts (Twilio's are a few hundred bytes): anything much larger is not one. */
export const WEBHOOK_BODY_LIMIT = 64 * 1024;

/**
 * Twilio status callbacks. The signature is checked against PUBLIC_BASE_URL + path
 * (Twilio signs the URL it was given, not the one we see behind a proxy). Receipts
 * move a message forward only, so a replayed or late callback changes nothing.
 *
 * A callback may come before the worker has recorded the MessageSid Twilio gave it. While an
 * SMS to the callback's `To` is being sent, a MessageSid no message carries is answered 202
 * and its receipt kept, to be applied when the send is recorded (receiptBeforeSend); with no
 * SMS under way to that phone it is none of ours: 404, and nothing is kept.
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
            {
              MessageSid: Type.String({ minLength: 1, maxLength: 64 }),
              MessageStatus: Type.String({ maxLength: 32 }),
              ErrorCode: Type.Optional(Type.String({ maxLength: 16 })),
              To: Type.Optional(Type.String({ maxLength: 64 })),
            },
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
        const { MessageSid: sid, MessageStatus: status, ErrorCode: errorCode, To: recipient } = request.body;
        const outcome = await applyReceipt(db, { providerMessageIds: [sid], receipt: twilioReceipt(status, errorCode), recipient: async () => recipient ?? null });
        if (outcome === 'unknown') {
          request.log.warn({ sid, status }, 'status callback for an unknown MessageSid');
          throw new ApiError(404, 'unknown_message', `no message with MessageSid ${sid}`);
        }
        // The logger masks the phone.
        request.log.info({ sid, status, recipient, outcome }, outcome === 'kept' ? 'delivery receipt before its send was recorded: kept' : 'delivery receipt');
        return reply.code(outcome === 'kept' ? 202 : 204).send();
      },
    );
  };
}
