import { applyReceipt, type Database } from '@lr/db';
import type { ReceiptPush } from '@lr/sms';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { sameSecret } from '../auth';
import { ApiError } from '../errors';
import { WEBHOOK_BODY_LIMIT } from './webhooks';

/**
 * The receipts a provider pushes to PATH/{token} (Alibaba Cloud's SmsReport: POST
 * /webhooks/aliyun/sms-report/{ALIYUN_SMS_REPORT_TOKEN}). The push is not signed: the secret
 * last segment of the URL authenticates it, checked before the body is read (403 otherwise,
 * and always for a provider not in use).
 *
 * Each receipt moves a `sent` message on, as Twilio's callbacks do: one pushed again, or one
 * older than the status the message has, changes nothing. A receipt for an SMS whose send is
 * not recorded yet (the worker records several sends together) is kept while its message is
 * being sent, and applied when the send is recorded (applyReceipt); otherwise it is none of
 * ours and dropped. Each push is answered as the provider expects (ReceiptPush.taken),
 * whatever its receipts matched, so that it is not pushed again; a push the database could
 * not take is answered 503, and the provider pushes it again.
 */
export const receiptPushRoute = (push: ReceiptPush) => `${push.path}/:token`;

export function receiptPushRoutes(db: Database, push: ReceiptPush): FastifyPluginAsyncTypebox {
  // Compared as hashes: equal lengths, and no timing that tells how much of a guess was right.
  const tokenMatches = (given: string) => push.token !== null && sameSecret(given, push.token);
  return async (app) => {
    app.post(
      receiptPushRoute(push),
      {
        // Info lines (incoming request, request completed) carry the URL, and so the token:
        // not logged for this route. What a push did is logged below, without it.
        logLevel: 'warn',
        bodyLimit: WEBHOOK_BODY_LIMIT,
        onRequest: async (request: FastifyRequest<{ Params: { token?: string } }>) => {
          if (!tokenMatches(request.params.token ?? '')) {
            // Said at warn, the route's level, so that an operator whose receipts stopped sees why; without the URL.
            app.log.warn({ reqId: request.id, ip: request.ip }, `${push.provider} receipt push with a wrong token: 403`);
            throw new ApiError(403, 'bad_token', `not the receipt URL this service gave ${push.provider}`);
          }
        },
        schema: {
          tags: ['webhooks'],
          params: Type.Object({ token: Type.String({ maxLength: 256 }) }),
          body: push.schema,
        },
      },
      async (request) => {
        const receipts = push.read(request.body);
        const counts = { applied: 0, unchanged: 0, kept: 0, unknown: 0 };
        for (const { providerMessageIds, messageId, phone, receipt } of receipts) {
          // Only the push's own phone checks an id of ours it names (another system sharing the
          // account may use the same out_id); a report that names none matches by the provider's id alone.
          const applied = await applyReceipt(db, { providerMessageIds, receipt, recipient: async () => phone ?? null });
          if (applied === 'unknown') {
            app.log.warn({ reqId: request.id, providerMessageIds, messageId }, `${push.provider} receipt for an SMS none of our messages is: dropped`);
          }
          counts[applied] += 1;
        }
        app.log.info({ reqId: request.id, receipts: receipts.length, ...counts }, `${push.provider} delivery receipts`);
        return push.taken;
      },
    );
  };
}
